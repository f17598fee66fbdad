import { describe, expect, test, beforeAll } from 'vitest';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { loadConfig } from '../../app/config';
import { drainTiming } from '../../infra/kubernetes/app-tier';
import { parseTopology } from '../../infra/topology';
import { plainStrings, type ProgramRun, type RecordedResource } from './pulumi-harness';
import { counts, materializeSecretFiles, plainTextLeaks, prodSecretConfig, runProd } from './stack-fixtures';

// Prod (Kubernetes) stack under Pulumi mocks, for 1, 3 and 7 apps and DB replicas. Every object
// is validated offline against the Kubernetes schema; the CloudNativePG CRs field by field.

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
};

const models: Record<string, new (data: any) => { validate(): void }> = {
  [K.namespace]: Namespace, [K.secret]: Secret, [K.configMap]: ConfigMap, [K.service]: Service,
  [K.deployment]: Deployment, [K.statefulSet]: StatefulSet, [K.job]: Job, [K.pdb]: PodDisruptionBudget,
};

const ns = 'aidiary-prod';
const podName = 'aidiary-prod-app-7d9c5b8f6-x2k4q';

const isSubset = (sub: Record<string, string>, of: Record<string, string>) => Object.entries(sub).every(([k, v]) => of?.[k] === v);

function podEnv(run: ProgramRun, workload: RecordedResource): Record<string, string> {
  const spec = workload.inputs.spec.template.spec;
  const container = spec.containers[0];
  const env: Record<string, string> = {};
  for (const e of container.env) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
    else throw new Error(`${e.name}: unexpected valueFrom ${JSON.stringify(e.valueFrom)}`);
  }
  // Resolve each file path through volume mounts and the projected Secret items to the value
  // the kubelet would write there.
  const secretData = (name: string, key: string) => run.byType(K.secret).find((s) => s.inputs.metadata.name === name)!.inputs.stringData[key];
  return materializeSecretFiles(env, (path) => {
    const mount = container.volumeMounts.find((m: { mountPath: string }) => path.startsWith(`${m.mountPath}/`));
    const volume = spec.volumes.find((v: { name: string }) => v.name === mount.name);
    const file = path.slice(mount.mountPath.length + 1);
    for (const source of volume.projected.sources) {
      const item = source.secret.items.find((i: { path: string }) => i.path === file);
      if (item) return secretData(source.secret.name, item.key);
    }
    throw new Error(`${path}: not provided by volume ${mount.name}`);
  });
}

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
    expect(countOf(K.secret)).toBe(4); // db app, app, backup credentials, tls
    expect(countOf(K.configMap)).toBe(1);
    expect(countOf(K.pdb)).toBe(2);
    expect(countOf(K.job)).toBe(1);
    expect(countOf(K.cluster)).toBe(1);
    expect(countOf(K.scheduledBackup)).toBe(1);
    expect(run.resources.filter((r) => r.type.startsWith('kubernetes:autoscaling'))).toEqual([]);
    for (const r of run.resources.filter((x) => x.type.startsWith('kubernetes:') && x.type !== K.namespace)) {
      expect(r.inputs.metadata.namespace, r.name).toBe(ns);
    }
    expect(named(K.deployment, 'aidiary-prod-app').inputs.spec.replicas).toBe(n);
    expect(named(K.deployment, 'aidiary-prod-nginx').inputs.spec.replicas).toBe(2);
  });

  test('every Kubernetes object passes offline schema validation (kubernetes-models)', () => {
    const k8sObjects = run.resources.filter((r) => models[r.type]);
    expect(k8sObjects.length).toBe(run.resources.filter((r) => r.type.startsWith('kubernetes:') && !r.type.includes('cnpg.io')).length);
    for (const r of k8sObjects) {
      const Model = models[r.type];
      expect(() => new Model(r.inputs).validate(), `${r.type} ${r.name}`).not.toThrow();
      expect(r.inputs.apiVersion && r.inputs.kind, r.name).toBeTruthy();
    }
  });

  test('selectors match labels: workloads, Services, PDBs and spread constraints', () => {
    const workloads = [...run.byType(K.deployment), ...run.byType(K.statefulSet)];
    for (const w of workloads) {
      const podLabels = w.inputs.spec.template.metadata.labels;
      expect(isSubset(w.inputs.spec.selector.matchLabels, podLabels), w.name).toBe(true);
      for (const c of w.inputs.spec.template.spec.topologySpreadConstraints ?? []) expect(isSubset(c.labelSelector.matchLabels, podLabels)).toBe(true);
    }
    const selects = (selector: Record<string, string>) => workloads.filter((w) => isSubset(selector, w.inputs.spec.template.metadata.labels));
    for (const s of run.byType(K.service)) expect(selects(s.inputs.spec.selector).length, s.name).toBe(1);
    for (const p of run.byType(K.pdb)) expect(selects(p.inputs.spec.selector.matchLabels).length, p.name).toBe(1);
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
    const sleep = Number(c.lifecycle.preStop.exec.command[1]);
    expect(c.lifecycle.preStop.exec.command[0]).toBe('sleep');
    expect(sleep).toBe(drainTiming(t).preStopSleepSeconds);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(sleep + t.drainMs / 1000);
    expect(app.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(pod.topologySpreadConstraints.map((x: { topologyKey: string }) => x.topologyKey)).toContain('kubernetes.io/hostname');
    expect(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory).toBeTruthy();
    expect(app.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/path': '/metrics', 'prometheus.io/port': '3000' });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(named(K.pdb, 'aidiary-prod-app').inputs.spec.maxUnavailable).toBe(1);
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

  test('CloudNativePG Cluster and ScheduledBackup, field by field', () => {
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
    const store = spec.backup.barmanObjectStore;
    expect(store.destinationPath).toBe('s3://aidiary-backups/prod');
    expect(store.wal.compression).toBe('gzip');
    const creds = named(K.secret, store.s3Credentials.accessKeyId.name).inputs.stringData;
    expect(creds[store.s3Credentials.accessKeyId.key]).toBe(prodSecretConfig.backupAccessKeyId);
    expect(creds[store.s3Credentials.secretAccessKey.key]).toBe(prodSecretConfig.backupSecretAccessKey);
    expect(spec.backup.retentionPolicy).toBe('30d');
    const backup = run.one(K.scheduledBackup).inputs;
    expect(backup.spec).toMatchObject({ cluster: { name: cluster.metadata.name }, method: 'barmanObjectStore', schedule: '0 0 3 * * *' });
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
