import { redisInstances, type ServiceAddresses, type Topology } from '../topology';
import { kubernetesNames } from './names';

/** Cluster DNS, for nginx's `resolver`: it re-resolves the headless Service as pods come and go. */
export const clusterResolver = 'kube-dns.kube-system.svc.cluster.local';

/**
 * Where the app finds its backing services in the namespace: the CloudNativePG `-rw` Service for
 * writes and `-ro` (replicas only) for reads; with no replica, reads go to the primary.
 */
export function kubernetesServiceAddresses(t: Topology): ServiceAddresses {
  const names = kubernetesNames(t);
  const redis = Object.fromEntries(redisInstances(t).map((r) => [r.role, { host: names.redis[r.role], port: r.port }]));
  return {
    dbPrimaryService: { host: names.dbReadWrite, port: 5432 },
    dbReadService: t.dbReplicas > 0 ? { host: names.dbReadOnly, port: 5432 } : undefined,
    redisSessions: redis.sessions,
    redisCache: redis.cache,
  };
}

/** The headless Service's in-cluster name, as nginx resolves it. */
export function appHeadlessHost(t: Topology, namespace: string): string {
  return `${kubernetesNames(t).appHeadless}.${namespace}.svc.cluster.local`;
}
