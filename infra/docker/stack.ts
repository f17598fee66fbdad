import * as pulumi from '@pulumi/pulumi';
import * as docker from '@pulumi/docker';
import type { DockerSettings } from '../stack-config';
import { durabilityMode } from '../topology';
import { StackSecrets } from '../stack-secrets';
import { AppImage } from './app-image';
import { AppTier } from './app-tier';
import { Database } from './database';
import { LoadBalancer } from './load-balancer';
import { Migrations } from './migrations';
import { DockerMonitoring } from './monitoring';
import { RedisTier } from './redis-tier';

/** Staging: the whole cluster on one Docker engine. Order: data tiers, migrations, apps, nginx, then monitoring when on. */
export function deployDockerStack(s: DockerSettings) {
  const t = s.topology;
  const secrets = new StackSecrets('secrets', { adminPassword: s.adminPassword, withServerPasswords: true });
  const network = new docker.Network('network', {
    name: t.name,
    driver: 'bridge',
    labels: [{ label: 'aidiary.stack', value: t.name }],
  });
  const images = new AppImage('images', { context: s.buildContext, repository: t.name });

  const database = new Database('database', {
    topology: t,
    networkName: network.name,
    superuserPassword: secrets.superuserPassword!,
    replicationPassword: secrets.replicationPassword!,
    dbPassword: secrets.dbPassword,
    primaryIndex: s.primaryIndex,
  });
  const redis = new RedisTier('redis', { topology: t, networkName: network.name, passwords: secrets.redis });
  const appSecrets = {
    dbPassword: secrets.dbPassword, sessionSecret: secrets.sessionSecret, adminPassword: secrets.adminPassword,
    redisSessionsPassword: secrets.redis.sessions, redisCachePassword: secrets.redis.cache,
  };
  const migrations = new Migrations('migrations', {
    topology: t, networkName: network.name, appImage: images.appImage, secrets: appSecrets,
    after: database.syncConfigApplied,
    dependsOn: [database.syncConfig, redis],
  });
  const apps = new AppTier('apps', {
    topology: t, networkName: network.name, appImage: images.appImage, secrets: { ...appSecrets, cdn: s.cdn },
    migrationsSucceeded: migrations.succeeded,
    dependsOn: [migrations.container],
  });
  const lb = new LoadBalancer('lb', {
    topology: t, networkName: network.name, edgeImage: images.edgeImage, hostPort: s.lbPort,
    dependsOn: [apps],
  });
  const monitoring = s.monitoring === 'prometheus'
    ? new DockerMonitoring('monitoring', {
        topology: t, networkName: network.name, hostPort: s.prometheusPort,
        superuserPassword: secrets.superuserPassword!, redisPasswords: secrets.redis,
        edgeContainerId: lb.containerId, dependsOn: [database, redis], primaryHost: database.primaryName,
      })
    : undefined;

  return {
    target: 'docker',
    url: lb.url,
    appReplicas: t.appReplicas,
    dbReplicas: t.dbReplicas,
    durability: durabilityMode(t),
    details: {
      network: network.name,
      lb: lb.containerName,
      apps: apps.containerNames,
      postgres: database.containerNames,
      redis: redis.containerNames,
      ...(monitoring ? { prometheus: monitoring.prometheusUrl, monitoring: monitoring.containerNames } : {}),
    },
    initialAdminPassword: pulumi.secret(secrets.adminPassword),
  };
}
