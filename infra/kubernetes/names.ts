import { redisInstances, type RedisRole, type Topology } from '../topology';

/** Kubernetes object names of a stack, derived from the topology's name and instance names. */
export function kubernetesNames(t: Topology) {
  const redis = Object.fromEntries(redisInstances(t).map((r) => [r.role, `${t.name}-${r.name}`])) as Record<RedisRole, string>;
  const dbCluster = `${t.name}-db`;
  return {
    app: `${t.name}-app`,
    /** Headless: one DNS A record per ready app pod; nginx resolves it. */
    appHeadless: `${t.name}-app`,
    appSecret: `${t.name}-app-secrets`,
    dbCluster,
    dbAppSecret: `${t.name}-db-app`,
    dbBackupSecret: `${t.name}-db-backup`,
    /** CloudNativePG creates these Services for the Cluster. */
    dbReadWrite: `${dbCluster}-rw`,
    dbReadOnly: `${dbCluster}-ro`,
    redis,
    nginx: `${t.name}-nginx`,
    lb: `${t.name}-lb`,
    tlsSecret: `${t.name}-tls`,
  };
}
