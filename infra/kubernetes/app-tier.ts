import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import { drainBehindResolverMs } from '../edge-nginx';
import { KUBERNETES_MAX_SURGE, type Topology } from '../topology';
import {
  appContainerSecurityContext, appEnvVars, appPodSecurityContext, appResources, appSecretMount, appSecretVolume, appTmpMount, appTmpVolume, cdnSecretData,
} from './app-pod';
import type { CdnStackSettings } from '../stack-config';
import { tierLabels } from './labels';
import { kubernetesNames } from './names';

export interface AppTierArgs {
  topology: Topology;
  namespace: pulumi.Input<string>;
  appImage: string;
  dbSecretName: pulumi.Input<string>;
  appSecretName: pulumi.Input<string>;
  /** The CDN the apps purge (env and its credential file). */
  cdn?: CdnStackSettings;
  dependsOn?: pulumi.Resource[];
}

/**
 * On termination the pod first keeps serving while it leaves nginx's view: the endpoint goes, the
 * headless Service's DNS answer follows, and nginx forgets the address within its resolver's
 * validity plus one lookup (drainBehindResolverMs includes a margin). Only then does the app get
 * SIGTERM and drain. The grace period covers both plus 15 s for in-flight requests and shutdown.
 */
export function drainTiming(t: Topology) {
  const preStopSleepSeconds = Math.ceil(drainBehindResolverMs / 1000);
  const drainSeconds = Math.ceil(t.drainMs / 1000);
  return { preStopSleepSeconds, terminationGracePeriodSeconds: preStopSleepSeconds + drainSeconds + 15 };
}

/**
 * The readiness probe's timeout: longer than the app's own 1.5 s deadline on its database check
 * (app/server.ts), so a slow database reads as "unready" (503) rather than a probe timeout.
 */
export const readinessProbeTimeoutSeconds = 3;

/**
 * The app's PodDisruptionBudget. With 2+ replicas a voluntary eviction (node drain) takes one pod
 * at a time. With a single replica nothing could serve while it is evicted, so the budget allows
 * none: a drain waits (kubectl drain retries and names the budget) until the operator runs a
 * second replica; an unready pod may always be evicted, so a broken pod never blocks a drain.
 */
export function appDisruptionBudget(t: Topology): { maxUnavailable?: number; minAvailable?: number; unhealthyPodEvictionPolicy: string } {
  return t.appReplicas > 1
    ? { maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' }
    : { minAvailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' };
}

export function appDeploymentSpec(t: Topology, args: AppTierArgs): k8s.types.input.apps.v1.DeploymentSpec {
  const labels = tierLabels(t, 'app');
  const port = t.ports.appBase;
  const timing = drainTiming(t);
  const spread = (topologyKey: string) => ({ maxSkew: 1, topologyKey, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: labels } });
  return {
    // The only owner of the replica count: no HorizontalPodAutoscaler exists for this Deployment.
    replicas: t.appReplicas,
    selector: { matchLabels: labels },
    // The surge is counted in max_connections (infra/topology/connection-budget.ts).
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: KUBERNETES_MAX_SURGE } },
    minReadySeconds: 5,
    revisionHistoryLimit: 5,
    template: {
      metadata: {
        labels,
        annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' },
      },
      spec: {
        securityContext: appPodSecurityContext,
        terminationGracePeriodSeconds: timing.terminationGracePeriodSeconds,
        topologySpreadConstraints: [spread('topology.kubernetes.io/zone'), spread('kubernetes.io/hostname')],
        containers: [{
          name: 'app',
          image: args.appImage,
          ports: [{ name: 'http', containerPort: port }],
          env: appEnvVars(t, { cdn: args.cdn }),
          // Ready = can serve reads (DESIGN invariant 9); a lost primary or Redis keeps pods in.
          readinessProbe: { httpGet: { path: '/health/ready', port: 'http' }, periodSeconds: 2, timeoutSeconds: readinessProbeTimeoutSeconds, failureThreshold: 2 },
          livenessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
          startupProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 2, failureThreshold: 30 },
          lifecycle: { preStop: { exec: { command: ['sleep', String(timing.preStopSleepSeconds)] } } },
          resources: appResources,
          securityContext: appContainerSecurityContext,
          volumeMounts: [appSecretMount, appTmpMount],
        }],
        volumes: [appSecretVolume(args.dbSecretName, args.appSecretName, Object.keys(cdnSecretData(args.cdn))), appTmpVolume],
      },
    },
  };
}

/**
 * The app Deployment (replicas from config), a headless Service so nginx resolves every ready
 * pod, and a PodDisruptionBudget (appDisruptionBudget) so voluntary evictions never take the
 * last serving pod.
 */
export class AppTier extends pulumi.ComponentResource {
  readonly deploymentName: pulumi.Output<string>;
  readonly headlessService: pulumi.Output<string>;

  constructor(name: string, args: AppTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:kubernetes:AppTier', name, {}, opts);
    const t = args.topology;
    const names = kubernetesNames(t);
    const labels = tierLabels(t, 'app');
    const deployment = new k8s.apps.v1.Deployment(`${name}-deployment`, {
      metadata: { name: names.app, namespace: args.namespace, labels },
      spec: appDeploymentSpec(t, args),
    }, { parent: this, dependsOn: args.dependsOn });
    const service = new k8s.core.v1.Service(`${name}-headless`, {
      metadata: { name: names.appHeadless, namespace: args.namespace, labels },
      spec: {
        clusterIP: 'None',
        selector: labels,
        // Only ready pods get an A record: readiness decides what nginx sees.
        publishNotReadyAddresses: false,
        ports: [{ name: 'http', port: t.ports.appBase, targetPort: 'http' }],
      },
    }, { parent: this });
    new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, {
      metadata: { name: names.app, namespace: args.namespace, labels },
      spec: { ...appDisruptionBudget(t), selector: { matchLabels: labels } },
    }, { parent: this });
    this.deploymentName = deployment.metadata.name;
    this.headlessService = service.metadata.name;
    this.registerOutputs({ deploymentName: this.deploymentName, headlessService: this.headlessService });
  }
}
