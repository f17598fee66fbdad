import { describe, expect, test, beforeAll } from 'vitest';
import { loadConfig } from '../../app/config';
import { drainTiming } from '../../infra/kubernetes/app-tier';
import { objectStoreSpec } from '../../infra/kubernetes/backup-object-store';
import { slotWalKeepSize } from '../../infra/kubernetes/database';
import { parseTopology } from '../../infra/topology';
import { aclPasswordHash, redisAclDir, redisAclFile, redisDefaultUserRule, redisUsers } from '../../infra/redis-settings';
import { schemaProblems } from './kubernetes-schema';
import { plainStrings, type ProgramRun } from './pulumi-harness';
import { selectorProblems } from './selector-lint';
import { counts, plainTextLeaks, podEnv, prodSecretConfig, runProd } from './stack-fixtures';

// Prod (Kubernetes) stack under Pulumi mocks, for 1, 3 and 7 apps and DB replicas. Every object,
// the CloudNativePG and Barman Cloud plugin resources included, is validated offline against
// schemas that refuse unknown fields (kubernetes-schema.ts); every selector is linted.

const K = {
  namespace: 'kubernetes:core/v1:Namespace',
  secret: 'kubernetes:core/v1:Secret',
  configMap: 'kubernetes:core/v1:ConfigMap',
  service: 'kubernetes:core/v1:Service',
  deployment: 'kubernetes:apps/v1:Deployment',
  statefulSet: 'kubernetes:apps/v1:StatefulSet',
  job: 'kubernetes:batch/v1:Job',
  pdb: 'kubernetes:policy/v1:PodDisruptionBudget',
  cluster: 'kubernetes:postgresql.cnpg.io/v1:Cluster',
  scheduledBackup: 'kubernetes:postgresql.cnpg.io/v1:ScheduledBackup',
  objectStore: 'kubernetes:barmancloud.cnpg.io/v1:ObjectStore',
};

const ns = 'aidiary-prod';
const podName = 'aidiary-prod-app-7d9c5b8f6-x2k4q';

const isSubset = (sub: Record<string, string>, of: Record<string, string>) => Object.entries(sub).every(([k, v]) => of?.[k] === v);


describe.each(counts)('prod stack with %i apps and as many DB replicas', (n) => {
  const t = parseTopology({ name: 'aidiary-prod', target: 'kubernetes', host: '0.0.0.0', appReplicas: n, dbReplicas: n });
  let run: ProgramRun;
  const named = (type: string, name: string) => run.byType(type).find((r) => r.inputs.metadata.name === name)!;
  beforeAll(async () => { run = await runProd(n, n); });

  test('creates the expected objects, all in the namespace', () => {
    const countOf = (type: string) => run.byType(type).length;
    expect(countOf(K.namespace)).toBe(1);
    expect(countOf(K.deployment)).toBe(2); // app, nginx
    expect(countOf(K.statefulSet)).toBe(2); // redis sessions, cache
    expect(countOf(K.service)).toBe(4); // app headless, lb, 2 redis
    expect(countOf(K.secret)).toBe(7); // db app, app, backup credentials, tls, 2 redis auth (ACL file), redis exporter login
    expect(countOf(K.configMap)).toBe(1);
    expect(countOf(K.pdb)).toBe(2);
    expect(countOf(K.job)).toBe(1);
    expect(countOf(K.cluster)).toBe(1);
    expect(countOf(K.scheduledBackup)).toBe(1);
    expect(countOf(K.objectStore)).toBe(1);
    expect(run.resources.filter((r) => r.type.startsWith('kubernetes:autoscaling'))).toEqual([]);
    for (const r of run.resources.filter((x) => x.type.startsWith('kubernetes:') && x.type !== K.namespace)) {
      expect(r.inputs.metadata.namespace, r.name).toBe(ns);
    }
    expect(named(K.deployment, 'aidiary-prod-app').inputs.spec.replicas).toBe(n);
    expect(named(K.deployment, 'aidiary-prod-nginx').inputs.spec.replicas).toBe(2);
  });

  test('every Kubernetes object passes strict schema validation (unknown fields and wrong types refused)', async () => {
    const objects = run.resources.filter((r) => r.type.startsWith('kubernetes:'));
    for (const r of objects) {
      // The object validated is the one Pulumi creates: its apiVersion and kind are the resource type's.
      expect(r.type, r.name).toBe(`kubernetes:${r.inputs.apiVersion.includes('/') ? '' : 'core/'}${r.inputs.apiVersion}:${r.inputs.kind}`);
      expect(await schemaProblems(r.inputs), `${r.type} ${r.name}`).toEqual([]);
    }
  });

  test('selectors match labels: workloads, Services, PDBs and spread constraints', () => {
    expect(selectorProblems(run.resources.filter((r) => r.type.startsWith('kubernetes:')).map((r) => r.inputs as any))).toEqual([]);
    const workloads = [...run.byType(K.deployment), ...run.byType(K.statefulSet)];
    const selects = (selector: Record<string, string>) => workloads.filter((w) => isSubset(selector, w.inputs.spec.template.metadata.labels));
    expect(selects(named(K.service, 'aidiary-prod-app').inputs.spec.selector)[0].inputs.metadata.name).toBe('aidiary-prod-app');
    expect(selects(named(K.service, 'aidiary-prod-lb').inputs.spec.selector)[0].inputs.metadata.name).toBe('aidiary-prod-nginx');
    expect(selects(named(K.pdb, 'aidiary-prod-app').inputs.spec.selector.matchLabels)[0].inputs.metadata.name).toBe('aidiary-prod-app');
    // Named target ports exist on the selected pods.
    for (const s of run.byType(K.service)) {
      const pod = selects(s.inputs.spec.selector)[0].inputs.spec.template.spec;
      for (const p of s.inputs.spec.ports) expect(pod.containers[0].ports.map((x: { name: string }) => x.name)).toContain(p.targetPort);
    }
  });

  test('app pods: probes, preStop, drain-aware grace period, rolling update, spread, resources, metrics', () => {
    const app = named(K.deployment, 'aidiary-prod-app').inputs.spec;
    const pod = app.template.spec;
    const c = pod.containers[0];
    expect(c.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(c.livenessProbe.httpGet.path).toBe('/health');
    // The image's CMD (infra/topology/app-runtime.ts appCommand, checked in stack-files.test.ts)
    // starts it: the same Node.js flags as the local runner.
    expect(c.command).toBeUndefined();
    expect(c.args).toBeUndefined();
    const sleep = Number(c.lifecycle.preStop.exec.command[1]);
    expect(c.lifecycle.preStop.exec.command[0]).toBe('sleep');
    expect(sleep).toBe(drainTiming(t).preStopSleepSeconds);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(sleep + t.drainMs / 1000);
    expect(app.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(pod.topologySpreadConstraints.map((x: { topologyKey: string }) => x.topologyKey)).toContain('kubernetes.io/hostname');
    expect(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory).toBeTruthy();
    expect(app.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/path': '/metrics', 'prometheus.io/port': '3000' });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    // One pod at a time; a lone pod is never evicted while it serves (see appDisruptionBudget).
    expect(named(K.pdb, 'aidiary-prod-app').inputs.spec).toMatchObject(n > 1 ? { maxUnavailable: 1 } : { minAvailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    const nginx = named(K.deployment, 'aidiary-prod-nginx').inputs.spec.template.spec.containers[0];
    expect(nginx.readinessProbe && nginx.livenessProbe && nginx.lifecycle.preStop).toBeTruthy();
  });

  test('app env: writes to the CloudNativePG -rw service, reads to -ro; accepted by loadConfig', () => {
    const cluster = run.one(K.cluster).inputs;
    const app = named(K.deployment, 'aidiary-prod-app');
    const config = loadConfig(podEnv(run, app));
    expect(config.dbNodes).toBeNull();
    expect(config.dbPrimaryService).toEqual({ host: `${cluster.metadata.name}-rw`, port: 5432 });
    expect(config.dbReadService).toEqual({ host: `${cluster.metadata.name}-ro`, port: 5432 });
    expect(config.appName).toBe(podName);
    // The origin is the configured siteUrl; only the pod network (the edge) may speak for clients.
    expect(config.siteUrl).toBe('https://blog.example.com');
    expect(config.trustedEdge).toEqual(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']);
    expect(config.redisSessionsUrl).toBe(`redis://${named(K.statefulSet, 'aidiary-prod-redis-sessions').inputs.metadata.name}:6380`);
    expect(config.redisCacheUrl).toBe('redis://aidiary-prod-redis-cache:6381');
    expect(run.generatedSecrets).toContain(config.dbPassword);
    expect(run.generatedSecrets).toContain(config.sessionSecret);
    // The database password the app reads is the one CloudNativePG bootstraps the owner with.
    const bootstrapSecret = named(K.secret, cluster.spec.bootstrap.initdb.secret.name).inputs;
    expect(bootstrapSecret.type).toBe('kubernetes.io/basic-auth');
    expect(bootstrapSecret.stringData).toEqual({ username: config.dbUser, password: config.dbPassword });
    const migration = loadConfig(podEnv(run, run.one(K.job)));
    expect(migration.dbPrimaryService).toEqual(config.dbPrimaryService);
    expect(migration.dbReadService).toBeNull();
  });

  test('CloudNativePG Cluster, Barman Cloud ObjectStore and ScheduledBackup, field by field', () => {
    const cluster = run.one(K.cluster).inputs;
    expect(cluster.apiVersion).toBe('postgresql.cnpg.io/v1');
    expect(cluster.kind).toBe('Cluster');
    expect(cluster.metadata.annotations['pulumi.com/waitFor']).toBe('condition=Ready');
    const spec = cluster.spec;
    expect(spec.instances).toBe(1 + n);
    if (n >= 2) expect(spec.postgresql.synchronous).toEqual({ method: 'any', number: 1, dataDurability: 'required' });
    else expect(spec.postgresql.synchronous).toBeUndefined();
    expect(spec.postgresql.parameters.max_connections).toBe(String(t.database.maxConnections));
    expect(spec.bootstrap.initdb).toMatchObject({ database: 'aidiary', owner: 'aidiary', encoding: 'UTF8', localeCType: 'C.UTF-8' });
    expect(spec.storage.size).toBe('10Gi');
    // A fifth of the 10Gi volume for WAL held by replication slots.
    expect(spec.postgresql.parameters.max_slot_wal_keep_size).toBe('2048MB');
    // Backups through the Barman Cloud plugin, not the deprecated in-tree barmanObjectStore.
    expect(spec.backup).toBeUndefined();
    expect(spec.plugins).toEqual([{ name: 'barman-cloud.cloudnative-pg.io', isWALArchiver: true, parameters: { barmanObjectName: 'aidiary-prod-db-store' } }]);
    const objectStore = run.one(K.objectStore);
    expect(objectStore.inputs.metadata.name).toBe(spec.plugins[0].parameters.barmanObjectName);
    expect(run.one(K.cluster).dependencies).toContain(objectStore.urn);
    const store = objectStore.inputs.spec.configuration;
    expect(store.destinationPath).toBe('s3://aidiary-backups/prod');
    expect(store.endpointURL).toBeUndefined();
    expect(store.wal).toEqual({ compression: 'gzip', maxParallel: 2 });
    expect(store.data).toEqual({ compression: 'gzip' });
    expect(store.s3Credentials.accessKeyId.name).toBe(store.s3Credentials.secretAccessKey.name);
    const creds = named(K.secret, store.s3Credentials.accessKeyId.name).inputs.stringData;
    expect(creds[store.s3Credentials.accessKeyId.key]).toBe(prodSecretConfig.backupAccessKeyId);
    expect(creds[store.s3Credentials.secretAccessKey.key]).toBe(prodSecretConfig.backupSecretAccessKey);
    expect(objectStore.inputs.spec.retentionPolicy).toBe('30d');
    const backup = run.one(K.scheduledBackup).inputs;
    expect(backup.spec).toMatchObject({
      cluster: { name: cluster.metadata.name }, method: 'plugin', pluginConfiguration: { name: 'barman-cloud.cloudnative-pg.io' }, schedule: '0 0 3 * * *',
    });
    expect(backup.spec.schedule.split(' ')).toHaveLength(6);
  });

  test('nginx: ConfigMap config resolves the headless Service (least_conn); TLS from a Secret', () => {
    const headless = named(K.service, 'aidiary-prod-app').inputs;
    expect(headless.spec.clusterIP).toBe('None');
    const cm = run.one(K.configMap).inputs;
    const conf: string = cm.data['nginx.conf'];
    const servers = conf.split('\n').filter((l) => /^\s*server\s+[^{]+;$/.test(l));
    expect(servers).toHaveLength(1);
    expect(servers[0].trim()).toMatch(new RegExp(`^server ${headless.metadata.name}\\.${ns}\\.svc\\.cluster\\.local:3000 resolve `));
    expect(conf).toContain('least_conn;');
    expect(conf).toMatch(/resolver kube-dns\.kube-system\.svc\.cluster\.local valid=\d+s/);
    expect(conf).toMatch(/listen 8080 ssl;/);
    // The public name only (siteUrl), HSTS on the TLS edge, no proxy believed before one is configured.
    expect(conf).toMatch(/map \$host \$aidiary_known_host \{\s*default 0;\s*blog\.example\.com 1;\s*\}/);
    expect(conf).toContain('add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;');
    expect(conf).not.toContain('set_real_ip_from');
    expect(conf).toContain('proxy_set_header X-Forwarded-For $remote_addr;');
    const nginx = named(K.deployment, 'aidiary-prod-nginx').inputs.spec.template.spec;
    const volumes = Object.fromEntries(nginx.volumes.map((v: { name: string }) => [v.name, v]));
    expect(volumes.config.configMap.name).toBe(cm.metadata.name);
    const tls = named(K.secret, volumes.tls.secret.secretName).inputs;
    expect(tls.type).toBe('kubernetes.io/tls');
    expect(tls.stringData['tls.key']).toBe(prodSecretConfig.tlsPrivateKey);
    const lb = named(K.service, 'aidiary-prod-lb').inputs.spec;
    expect(lb.type).toBe('LoadBalancer');
    expect(lb.ports).toEqual([{ name: 'https', port: 443, targetPort: 'https' }]);
  });

  test('redis: sessions with AOF on a PVC, cache with LRU and no persistence', () => {
    const sessions = named(K.statefulSet, 'aidiary-prod-redis-sessions').inputs.spec;
    expect(sessions.template.spec.containers[0].args.join(' ')).toMatch(/--appendonly yes .*--maxmemory-policy noeviction/);
    expect(sessions.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('1Gi');
    const cache = named(K.statefulSet, 'aidiary-prod-redis-cache').inputs.spec;
    expect(cache.template.spec.containers[0].args.join(' ')).toMatch(/--appendonly no .*--maxmemory-policy allkeys-lru/);
    expect(cache.volumeClaimTemplates).toEqual([]);
  });

  test('redis requires a login: ACL file from a Secret, probes authenticate from a file, the apps get their password as a file', () => {
    const app = named(K.deployment, 'aidiary-prod-app');
    const config = loadConfig(podEnv(run, app));
    const migrate = loadConfig(podEnv(run, run.one(K.job)));
    for (const role of ['sessions', 'cache'] as const) {
      const spec = named(K.statefulSet, `aidiary-prod-redis-${role}`).inputs.spec.template.spec;
      const c = spec.containers[0];
      expect(c.args.join(' ')).toContain(`--aclfile ${redisAclFile}`);
      const mount = c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === redisAclDir);
      expect(mount.readOnly).toBe(true);
      const secretName = spec.volumes.find((v: { name: string }) => v.name === mount.name).secret.secretName;
      const data = named(K.secret, secretName).inputs.stringData;
      const acl: string = data['users.acl'];
      expect(acl.split('\n')[0]).toBe(redisDefaultUserRule);
      // The app's password (from its own Secret file) is the one the ACL file holds, hashed only.
      const auth = role === 'sessions' ? config.redisSessionsAuth! : config.redisCacheAuth!;
      expect(auth.username).toBe(redisUsers.app);
      expect(run.generatedSecrets).toContain(auth.password);
      expect(acl).toContain(`user ${redisUsers.app} on ${aclPasswordHash(auth.password)} `);
      expect(acl).not.toContain(auth.password);
      expect(role === 'sessions' ? migrate.redisSessionsAuth : migrate.redisCacheAuth).toEqual(auth);
      // Probes: the healthcheck user, the password through REDISCLI_AUTH from the mounted file.
      for (const probe of [c.readinessProbe, c.livenessProbe]) {
        expect(probe.exec.command.slice(0, 2)).toEqual(['sh', '-c']);
        expect(probe.exec.command[2]).toContain(`REDISCLI_AUTH="$(cat ${redisAclDir}/healthcheck-password)"`);
        expect(probe.exec.command[2]).toContain(`--user ${redisUsers.healthcheck}`);
      }
      expect(acl).toContain(`user ${redisUsers.healthcheck} on ${aclPasswordHash(data['healthcheck-password'])} `);
    }
    expect(config.redisSessionsAuth!.password).not.toBe(config.redisCacheAuth!.password);
    const exporter = named(K.secret, 'aidiary-prod-redis-exporter').inputs.stringData;
    expect(exporter.username).toBe(redisUsers.exporter);
    expect(named(K.secret, 'aidiary-prod-redis-sessions-auth').inputs.stringData['users.acl']).toContain(`user exporter on ${aclPasswordHash(exporter.password)} `);
  });

  test('the migration Job runs before the app rolls, named per release', () => {
    const job = run.one(K.job);
    expect(job.inputs.metadata.name).toMatch(/^aidiary-prod-migrate-[0-9a-f]{10}$/);
    expect(job.inputs.spec.template.spec.containers[0].command).toEqual(['node', 'dist/cli.mjs', 'migrate']);
    expect(named(K.deployment, 'aidiary-prod-app').dependencies).toContain(job.urn);
    expect(job.dependencies).toContain(run.one(K.cluster).urn);
  });

  test('no secret appears in plain text in any input', () => {
    expect(plainTextLeaks(run, plainStrings, Object.values(prodSecretConfig))).toEqual([]);
    for (const w of [...run.byType(K.deployment), ...run.byType(K.job)]) {
      const env = (w.inputs.spec.template ?? w.inputs.spec.template).spec.containers[0].env ?? [];
      for (const e of env) expect(e.name, w.name).not.toMatch(/PASSWORD$|SECRET$/);
    }
  });
});

test('dbReplicas 0: no read service, async, a single instance', async () => {
  const run = await runProd(2, 0);
  const cluster = run.one(K.cluster).inputs.spec;
  expect(cluster.instances).toBe(1);
  expect(cluster.postgresql.synchronous).toBeUndefined();
  const app = run.byType(K.deployment).find((d) => d.inputs.metadata.name === 'aidiary-prod-app')!;
  const config = loadConfig(podEnv(run, app));
  expect(config.dbReadService).toBeNull();
});

test('an existing TLS Secret is referenced, not created', async () => {
  const run = await runProd(1, 1, { tlsSecretName: 'cert-manager-aidiary-tls' });
  expect(run.byType(K.secret).map((s) => s.inputs.metadata.name)).not.toContain('aidiary-prod-tls');
  const nginx = run.byType(K.deployment).find((d) => d.inputs.metadata.name === 'aidiary-prod-nginx')!;
  expect(nginx.inputs.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'tls').secret.secretName).toBe('cert-manager-aidiary-tls');
});

test('an S3-compatible endpoint and a new archive folder reach the ObjectStore and the Cluster\'s plugin', async () => {
  const run = await runProd(1, 1, { backupEndpointUrl: 'https://minio.example:9000', backupServerName: 'aidiary-prod-db-r1', dbStorageSize: '50Gi' });
  const objectStore = run.one(K.objectStore).inputs;
  expect(objectStore.spec.configuration.endpointURL).toBe('https://minio.example:9000');
  const cluster = run.one(K.cluster).inputs.spec;
  expect(cluster.plugins[0].parameters).toEqual({ barmanObjectName: objectStore.metadata.name, serverName: 'aidiary-prod-db-r1' });
  expect(cluster.postgresql.parameters.max_slot_wal_keep_size).toBe('10240MB');
  for (const r of [run.one(K.objectStore), run.one(K.cluster)]) expect(await schemaProblems(r.inputs)).toEqual([]);
});

test('a retention the plugin would refuse, or a storage size that is not a quantity, is refused naming the key to fix', () => {
  expect(() => objectStoreSpec({ destinationPath: 's3://b/p', retention: '30 days', schedule: '0 0 3 * * *' }, 'creds')).toThrow(/backupRetention: expected days, weeks or months such as 30d, 4w or 6m, got "30 days"/);
  expect(objectStoreSpec({ destinationPath: 's3://b/p', retention: '6m', schedule: '0 0 3 * * *' }, 'creds').retentionPolicy).toBe('6m');
  expect(() => slotWalKeepSize('10GB')).toThrow(/dbStorageSize: expected a size such as 10Gi or 500Mi, got "10GB"/);
  expect(() => slotWalKeepSize('200Mi')).toThrow(/dbStorageSize: "200Mi" is too small/);
  expect([slotWalKeepSize('1Gi'), slotWalKeepSize('20G'), slotWalKeepSize('1Ti')]).toEqual(['204MB', '3814MB', '209715MB']);
});
