import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import type { Topology } from '../topology';
import type { LbServiceType, TlsSettings } from '../stack-config';
import { contentHash } from '../content-hash';
import { edgeCommand, edgeConfigDir, edgeHealthCommand, edgeTlsDir, edgeUser, renderEdgeConfig, workersForCpuLimit } from '../edge-nginx';
import { tierLabels } from './labels';
import { kubernetesNames } from './names';
import { appHeadlessHost, clusterResolver } from './service-addresses';
import { edgeExporterContainer } from './monitoring';

export const nginxReplicas = 2;

/** CPUs an nginx pod may use: its limit, and the number of nginx workers. */
export const edgeCpuLimit = 1;
export const edgeResources: k8s.types.input.core.v1.ResourceRequirements = {
  requests: { cpu: '100m', memory: '128Mi' },
  limits: { cpu: String(edgeCpuLimit), memory: '512Mi' },
};

/**
 * nginx's config in prod: TLS on the listener, `least_conn` over the headless app Service, one
 * worker per CPU of the pod's limit (`auto` would start one per node core, all sharing one CPU).
 */
export function kubernetesNginxConfig(t: Topology, namespace: string): string {
  return renderEdgeConfig(
    t,
    { host: appHeadlessHost(t, namespace), port: t.ports.appBase, resolver: clusterResolver },
    { certificateFile: `${edgeTlsDir}/tls.crt`, keyFile: `${edgeTlsDir}/tls.key` },
    undefined,
    workersForCpuLimit(edgeCpuLimit),
  );
}

/**
 * The Service in front of nginx. `LoadBalancer`: the cloud's load balancer; Pulumi does not wait
 * for its address (`pulumi.com/skipAwait`), which a cluster without a load-balancer controller
 * never assigns: the `url` output says so until a `pulumi up --refresh` finds one. `NodePort`:
 * every node's port. `ClusterIP`: behind an existing ingress or gateway.
 */
export function edgeServiceSpec(type: LbServiceType, selector: Record<string, string>): k8s.types.input.core.v1.ServiceSpec {
  return {
    type,
    // Keep the client address (X-Forwarded-For) and skip a second hop; only for external types.
    ...(type === 'ClusterIP' ? {} : { externalTrafficPolicy: 'Local' }),
    selector,
    ports: [{ name: 'https', port: 443, targetPort: 'https' }],
  };
}

/** The ConfigMap's name carries the config's hash: a new config rolls the nginx pods. */
export function nginxConfigMapName(t: Topology, config: string): string {
  return `${kubernetesNames(t).nginx}-${contentHash(config)}`;
}

export interface LoadBalancerArgs {
  topology: Topology;
  namespace: pulumi.Input<string>;
  /** The namespace as plain text: nginx's config names the headless Service's FQDN. */
  namespaceName: string;
  edgeImage: string;
  tls: TlsSettings;
  serviceType: LbServiceType;
  /** The nginx exporter sidecar for the Prometheus Operator (infra/kubernetes/monitoring.ts). */
  metricsExporter?: boolean;
  dependsOn?: pulumi.Resource[];
}

/**
 * nginx (edge image, nginx >= 1.27.3 + static files), 2 replicas, behind a Service (type from
 * config) that forwards 443 to nginx's TLS listener. The Service is created once the nginx
 * Deployment is ready, so its endpoints exist from the start. The rendered config does not depend
 * on the app count: scaling the apps leaves nginx untouched.
 */
export class LoadBalancer extends pulumi.ComponentResource {
  readonly serviceName: pulumi.Output<string>;
  /** How clients reach nginx: the load balancer's address once assigned, the node port, or the in-cluster name. */
  readonly url: pulumi.Output<string>;
  readonly nginxConfig: string;

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:kubernetes:LoadBalancer', name, {}, opts);
    const t = args.topology;
    const names = kubernetesNames(t);
    const labels = tierLabels(t, 'nginx');
    this.nginxConfig = kubernetesNginxConfig(t, args.namespaceName);

    const tlsSecretName = args.tls.kind === 'existing'
      ? pulumi.output(args.tls.secretName)
      : new k8s.core.v1.Secret(`${name}-tls`, {
          metadata: { name: names.tlsSecret, namespace: args.namespace },
          type: 'kubernetes.io/tls',
          stringData: { 'tls.crt': args.tls.certificate, 'tls.key': args.tls.privateKey },
        }, { parent: this }).metadata.name;

    const config = new k8s.core.v1.ConfigMap(`${name}-config`, {
      metadata: { name: nginxConfigMapName(t, this.nginxConfig), namespace: args.namespace, labels },
      data: { 'nginx.conf': this.nginxConfig },
    }, { parent: this });

    const health = { exec: { command: edgeHealthCommand(t) } };
    const deployment = new k8s.apps.v1.Deployment(`${name}-deployment`, {
      metadata: { name: names.nginx, namespace: args.namespace, labels },
      spec: {
        replicas: nginxReplicas,
        selector: { matchLabels: labels },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: { labels },
          spec: {
            securityContext: { runAsNonRoot: true, runAsUser: edgeUser, runAsGroup: edgeUser, fsGroup: edgeUser, seccompProfile: { type: 'RuntimeDefault' } },
            terminationGracePeriodSeconds: 30,
            topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: labels } }],
            containers: [{
              name: 'nginx',
              image: args.edgeImage,
              command: edgeCommand,
              ports: [{ name: 'https', containerPort: t.ports.lb }],
              readinessProbe: { ...health, periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 2 },
              livenessProbe: { ...health, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
              // Leave the load balancer's endpoints before nginx stops accepting.
              lifecycle: { preStop: { exec: { command: ['sleep', '5'] } } },
              resources: edgeResources,
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [
                { name: 'config', mountPath: edgeConfigDir, readOnly: true },
                { name: 'tls', mountPath: edgeTlsDir, readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            }, ...(args.metricsExporter ? [edgeExporterContainer(t)] : [])],
            volumes: [
              { name: 'config', configMap: { name: config.metadata.name } },
              { name: 'tls', secret: { secretName: tlsSecretName, defaultMode: 0o440 } },
              { name: 'tmp', emptyDir: { sizeLimit: '512Mi' } },
            ],
          },
        },
      },
    }, { parent: this, dependsOn: args.dependsOn });

    new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, {
      metadata: { name: names.nginx, namespace: args.namespace, labels },
      spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
    }, { parent: this });

    const type = args.serviceType;
    const service = new k8s.core.v1.Service(`${name}-service`, {
      metadata: {
        name: names.lb,
        namespace: args.namespace,
        labels,
        ...(type === 'LoadBalancer' ? { annotations: { 'pulumi.com/skipAwait': 'true' } } : {}),
      },
      spec: edgeServiceSpec(type, labels),
    }, { parent: this, dependsOn: [deployment] });
    this.serviceName = service.metadata.name;
    this.url = edgeUrl(type, service, names.lb, args.namespaceName);
    this.registerOutputs({ serviceName: this.serviceName, url: this.url });
  }
}

/** The `url` output; never waits on the cloud (a missing address reads as pending). */
function edgeUrl(type: LbServiceType, service: k8s.core.v1.Service, serviceName: string, namespace: string): pulumi.Output<string> {
  if (type === 'ClusterIP') return pulumi.output(`https://${serviceName}.${namespace}.svc.cluster.local`);
  if (type === 'NodePort') return service.spec.apply((spec) => `https://<any node address>:${spec?.ports?.[0]?.nodePort ?? '<node port>'}`);
  return service.status.apply((st) => {
    const ingress = st?.loadBalancer?.ingress?.[0];
    return ingress
      ? `https://${ingress.hostname ?? ingress.ip}`
      : `pending: no load balancer address yet; see \`kubectl -n ${namespace} get service ${serviceName}\`, then \`pulumi up --refresh\``;
  });
}
