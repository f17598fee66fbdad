import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import type { KubernetesSettings } from '../stack-config';
import { durabilityMode } from '../topology';
import { StackSecrets } from '../stack-secrets';
import { AppSecrets } from './app-secrets';
import { AppTier } from './app-tier';
import { Database } from './database';
import { LoadBalancer } from './load-balancer';
import { Migrations } from './migrations';
import { Monitoring, postgresQueriesConfigMap, postgresQueriesConfigMapName, postgresQueriesKey } from './monitoring';
import { kubernetesNames } from './names';
import { NetworkPolicies } from './network-policies';
import { RedisTier } from './redis-tier';

/**
 * Prod: one namespace holding the cluster. Order: Secrets and data tiers, the migration Job,
 * the app Deployment (after the Job), nginx. The CloudNativePG operator must already run.
 */
export function deployKubernetesStack(s: KubernetesSettings) {
  const t = s.topology;
  const namespace = new k8s.core.v1.Namespace('namespace', {
    metadata: { name: s.namespace, labels: { 'app.kubernetes.io/part-of': 'aidiary' } },
  });
  // The Output (not the plain string) gives every namespaced object a dependency on the Namespace.
  const ns = namespace.metadata.name;
  // Default deny plus the flow matrix, before any workload: no pod runs on an open network.
  const network = new NetworkPolicies('network', { topology: t, namespace: ns, namespaceName: s.namespace, network: s.network });
  const secrets = new StackSecrets('secrets', { adminPassword: s.adminPassword, withServerPasswords: false });
  const appSecrets = new AppSecrets('app-secrets', {
    topology: t, namespace: ns, dbPassword: secrets.dbPassword, sessionSecret: secrets.sessionSecret, adminPassword: secrets.adminPassword,
    redisSessionsPassword: secrets.redis.sessions, redisCachePassword: secrets.redis.cache, cdn: s.cdn,
  });

  // Optional scraping and alerting for clusters running the Prometheus Operator (infra/kubernetes/monitoring.ts).
  const monitored = s.monitoring === 'prometheus-operator';
  const queries = monitored ? postgresQueriesConfigMap('postgres-monitoring-queries', t, ns, s.namespace) : undefined;
  const database = new Database('database', {
    topology: t, namespace: ns, dbAppSecretName: kubernetesNames(t).dbAppSecret, backup: s.backup,
    storageSize: s.dbStorageSize, storageClass: s.storageClass,
    monitoringQueries: monitored ? { name: postgresQueriesConfigMapName(t), key: postgresQueriesKey } : undefined,
    dependsOn: [appSecrets, network, ...(queries ? [queries] : [])],
  });
  if (monitored) new Monitoring('monitoring', { topology: t, namespace: ns, namespaceName: s.namespace });
  const redis = new RedisTier('redis', {
    topology: t, namespace: ns, storageSize: s.redisStorageSize, storageClass: s.storageClass, passwords: secrets.redis, dependsOn: [network],
  });
  const migrations = new Migrations('migrations', {
    topology: t, namespace: ns, appImage: s.appImage,
    dbSecretName: appSecrets.dbSecretName, appSecretName: appSecrets.appSecretName,
    dependsOn: [database.cluster, redis],
  });
  const apps = new AppTier('apps', {
    topology: t, namespace: ns, appImage: s.appImage,
    dbSecretName: appSecrets.dbSecretName, appSecretName: appSecrets.appSecretName, cdn: s.cdn,
    dependsOn: [migrations.job],
  });
  const lb = new LoadBalancer('lb', {
    topology: t, namespace: ns, namespaceName: s.namespace, edgeImage: s.edgeImage, tls: s.tls, serviceType: s.lbServiceType,
    metricsExporter: monitored, dependsOn: [apps],
  });

  return {
    target: 'kubernetes',
    url: lb.url,
    appReplicas: t.appReplicas,
    dbReplicas: t.dbReplicas,
    durability: durabilityMode(t),
    details: {
      namespace: s.namespace,
      appDeployment: apps.deploymentName,
      appHeadlessService: apps.headlessService,
      dbCluster: database.cluster.metadata.name,
      dbPrimaryService: database.primaryService,
      dbReadService: database.readService,
      redisServices: redis.serviceNames,
      lbService: lb.serviceName,
      migrationJob: migrations.job.metadata.name,
      networkPolicies: network.names,
    },
    initialAdminPassword: pulumi.secret(secrets.adminPassword),
  };
}
