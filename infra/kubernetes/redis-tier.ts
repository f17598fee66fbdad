import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import { redisInstances, type RedisInstance, type Topology } from '../topology';
import { redisAclDir, redisHealthcheckShell, redisMemoryLimitMib, redisServerArgs, redisUsers } from '../redis-settings';
import { redisAclFileContent, type RedisPasswordOutputs } from '../stack-secrets';
import { tierLabels } from './labels';
import { kubernetesNames } from './names';

export const redisImage = 'redis:7.4-alpine';
/** uid/gid of the `redis` user in the official image. */
const redisUid = 999;

export interface RedisTierArgs {
  topology: Topology;
  namespace: pulumi.Input<string>;
  storageSize: string;
  storageClass?: string;
  /** The Redis users' passwords (StackSecrets.redis). */
  passwords: RedisPasswordOutputs;
  dependsOn?: pulumi.Resource[];
}

/** The Secret a role's pod mounts at redisAclDir: its ACL file and the probes' password. */
export function redisAuthSecretName(t: Topology, r: RedisInstance): string {
  return `${kubernetesNames(t).redis[r.role]}-auth`;
}

/** The exporter's login (read-only user on both roles), for a metrics exporter the operator runs. */
export function redisExporterSecretName(t: Topology): string {
  return `${t.name}-redis-exporter`;
}

/**
 * The two Redis roles, each a one-pod StatefulSet behind a ClusterIP Service named after the
 * topology instance. `sessions` appends to an AOF on its own PVC (volumeClaimTemplates) so a pod
 * restart keeps logins; `cache` is disposable (no PVC, LRU eviction). Each requires a login: its
 * ACL file (password hashes only) and the probes' password come from a Secret mounted 0440.
 */
export class RedisTier extends pulumi.ComponentResource {
  readonly serviceNames: Record<string, string>;

  constructor(name: string, args: RedisTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:kubernetes:RedisTier', name, {}, opts);
    const t = args.topology;
    const names = kubernetesNames(t);
    this.serviceNames = {};
    new k8s.core.v1.Secret(`${name}-exporter`, {
      metadata: { name: redisExporterSecretName(t), namespace: args.namespace, labels: tierLabels(t, 'redis') },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: redisUsers.exporter, password: args.passwords.exporter },
    }, { parent: this });
    for (const r of redisInstances(t)) {
      const objectName = names.redis[r.role];
      const labels = tierLabels(t, r.name);
      const auth = new k8s.core.v1.Secret(`${name}-${r.name}-auth`, {
        metadata: { name: redisAuthSecretName(t, r), namespace: args.namespace, labels },
        type: 'Opaque',
        stringData: { 'users.acl': redisAclFileContent(r.role, args.passwords), 'healthcheck-password': args.passwords.healthcheck },
      }, { parent: this });
      new k8s.core.v1.Service(`${name}-${r.name}`, {
        metadata: { name: objectName, namespace: args.namespace, labels },
        spec: { selector: labels, ports: [{ name: 'redis', port: r.port, targetPort: 'redis' }] },
      }, { parent: this });
      new k8s.apps.v1.StatefulSet(`${name}-${r.name}`, {
        metadata: { name: objectName, namespace: args.namespace, labels },
        spec: redisStatefulSetSpec(r, objectName, labels, args, redisAuthSecretName(t, r)),
      }, { parent: this, dependsOn: [auth, ...(args.dependsOn ?? [])] });
      this.serviceNames[r.role] = objectName;
    }
    this.registerOutputs({ serviceNames: this.serviceNames });
  }
}

export function redisStatefulSetSpec(
  r: RedisInstance, serviceName: string, labels: Record<string, string>, args: Pick<RedisTierArgs, 'storageSize' | 'storageClass'>, authSecretName: string,
): k8s.types.input.apps.v1.StatefulSetSpec {
  const persistent = r.role === 'sessions';
  // The password goes from the mounted file into REDISCLI_AUTH, never onto the probe's command line.
  const ping = { exec: { command: ['sh', '-c', redisHealthcheckShell(r.port)] } };
  return {
    serviceName,
    replicas: 1,
    selector: { matchLabels: labels },
    template: {
      metadata: { labels },
      spec: {
        securityContext: { runAsNonRoot: true, runAsUser: redisUid, runAsGroup: redisUid, fsGroup: redisUid, seccompProfile: { type: 'RuntimeDefault' } },
        terminationGracePeriodSeconds: 30,
        containers: [{
          name: 'redis',
          image: redisImage,
          args: redisServerArgs(r, '/data', redisMemoryLimitMib[r.role]),
          ports: [{ name: 'redis', containerPort: r.port }],
          readinessProbe: { ...ping, periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 2 },
          livenessProbe: { ...ping, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
          // maxmemory (in args) is a share of this limit: Redis refuses writes before the kernel kills it.
          resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: `${redisMemoryLimitMib[r.role]}Mi` } },
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'auth', mountPath: redisAclDir, readOnly: true }],
        }],
        volumes: [
          ...(persistent ? [] : [{ name: 'data', emptyDir: {} }]),
          { name: 'auth', secret: { secretName: authSecretName, defaultMode: 0o440 } },
        ],
      },
    },
    volumeClaimTemplates: persistent
      ? [{
          metadata: { name: 'data' },
          spec: {
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: args.storageSize } },
            ...(args.storageClass ? { storageClassName: args.storageClass } : {}),
          },
        }]
      : [],
  };
}
