import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import { redisInstances, type RedisInstance, type Topology } from '../topology';
import { redisMemoryLimitMib, redisServerArgs } from '../redis-settings';
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
}

/**
 * The two Redis roles, each a one-pod StatefulSet behind a ClusterIP Service named after the
 * topology instance. `sessions` appends to an AOF on its own PVC (volumeClaimTemplates) so a pod
 * restart keeps logins; `cache` is disposable (no PVC, LRU eviction).
 */
export class RedisTier extends pulumi.ComponentResource {
  readonly serviceNames: Record<string, string>;

  constructor(name: string, args: RedisTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:kubernetes:RedisTier', name, {}, opts);
    const t = args.topology;
    const names = kubernetesNames(t);
    this.serviceNames = {};
    for (const r of redisInstances(t)) {
      const objectName = names.redis[r.role];
      const labels = tierLabels(t, r.name);
      new k8s.core.v1.Service(`${name}-${r.name}`, {
        metadata: { name: objectName, namespace: args.namespace, labels },
        spec: { selector: labels, ports: [{ name: 'redis', port: r.port, targetPort: 'redis' }] },
      }, { parent: this });
      new k8s.apps.v1.StatefulSet(`${name}-${r.name}`, {
        metadata: { name: objectName, namespace: args.namespace, labels },
        spec: redisStatefulSetSpec(r, objectName, labels, args),
      }, { parent: this });
      this.serviceNames[r.role] = objectName;
    }
    this.registerOutputs({ serviceNames: this.serviceNames });
  }
}

function redisStatefulSetSpec(r: RedisInstance, serviceName: string, labels: Record<string, string>, args: RedisTierArgs): k8s.types.input.apps.v1.StatefulSetSpec {
  const persistent = r.role === 'sessions';
  const ping = { exec: { command: ['sh', '-c', `redis-cli -p ${r.port} ping | grep -q PONG`] } };
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
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        }],
        volumes: persistent ? [] : [{ name: 'data', emptyDir: {} }],
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
