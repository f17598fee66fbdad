import { describe, expect, test, beforeAll } from 'vitest';
import { loadConfig } from '../../app/config';
import { MONITOR_CONNECTIONS_PER_NODE } from '../../app/db/node-monitor';
import { readinessTimeoutMs } from '../../app/server';
import { plainStrings, type ProgramRun, type RecordedResource } from './pulumi-harness';
import { byRole, envFromList, materializeSecretFiles, plainTextLeaks, runProd, runStaging } from './stack-fixtures';

// Deployment properties of the rendered stacks, each read from what the stack declares (the
// rendered nginx config, container and pod specs, PostgreSQL settings), never from the code that
// computed it: a drain that outlasts the edge's resolver, probe timeouts above the app's own
// readiness deadline, nginx workers that match the CPU limit, Redis stopping below its memory
// limit, a connection budget that holds during a release at the largest app count, a Service
// that never blocks a first deploy, a single app pod that a drain cannot evict, one-shot steps
// that a later `pulumi up` runs again, and the admin password output.

const K = {
  deployment: 'kubernetes:apps/v1:Deployment',
  statefulSet: 'kubernetes:apps/v1:StatefulSet',
  service: 'kubernetes:core/v1:Service',
  configMap: 'kubernetes:core/v1:ConfigMap',
  secret: 'kubernetes:core/v1:Secret',
  pdb: 'kubernetes:policy/v1:PodDisruptionBudget',
  job: 'kubernetes:batch/v1:Job',
  cluster: 'kubernetes:postgresql.cnpg.io/v1:Cluster',
};

/** The app's force-close of in-flight requests after its drain (app/main.ts). */
const APP_INFLIGHT_LIMIT_MS = 10_000;

const named = (run: ProgramRun, type: string, name: string) => run.byType(type).find((r) => r.inputs.metadata.name === name)!;

/** How long nginx keeps a resolved address and how long a lookup may take, from the config text. */
function resolverTiming(conf: string): { validMs: number; timeoutMs: number } {
  const valid = /^\s*resolver \S+ valid=(\d+)s/m.exec(conf);
  const timeout = /^\s*resolver_timeout (\d+)s;/m.exec(conf);
  if (!valid || !timeout) throw new Error('no resolver/resolver_timeout in the edge config');
  return { validMs: Number(valid[1]) * 1000, timeoutMs: Number(timeout[1]) * 1000 };
}

const workerProcesses = (conf: string) => /^worker_processes (\S+);$/m.exec(conf)?.[1];
const seconds = (docker: string) => Number(/^(\d+)s$/.exec(docker)![1]);
/** `-c key=value` pairs of a PostgreSQL container's command. */
const serverSettings = (c: RecordedResource) => Object.fromEntries((c.inputs.command as string[]).filter((a, i, all) => all[i - 1] === '-c').map((kv) => kv.split('=')));
const redisArg = (args: string[], flag: string) => args[args.indexOf(flag) + 1];
const mib = (v: string) => Number(/^(\d+)(?:mb|Mi)$/.exec(v)![1]);

describe('staging (Docker)', () => {
  let run: ProgramRun;
  let nginxConf: string;
  beforeAll(async () => {
    run = await runStaging(3, 2);
    nginxConf = byRole(run, 'lb')[0].inputs.uploads.find((u: { file: string }) => u.file.endsWith('nginx.conf')).content;
  });

  test('drain outlasts the edge resolver: a leaving app serves until nginx has forgotten its address; Docker waits for it', () => {
    const { validMs, timeoutMs } = resolverTiming(nginxConf);
    expect(validMs).toBe(5000);
    for (const app of byRole(run, 'app')) {
      const env = envFromList(app.inputs.envs);
      // The value the app itself reads (app/main.ts keeps serving this long after SIGTERM).
      const drainMs = loadConfig(materializeSecretFiles(env, () => 's'.repeat(40))).drainMs;
      expect(drainMs, app.name).toBeGreaterThanOrEqual(validMs + timeoutMs + 2000);
      expect(app.inputs.stopSignal).toBe('SIGTERM');
      for (const grace of [app.inputs.stopTimeout, app.inputs.destroyGraceSeconds]) {
        expect(grace * 1000, app.name).toBeGreaterThanOrEqual(drainMs + APP_INFLIGHT_LIMIT_MS + 1000);
      }
    }
  });

  test('the app health check waits longer than the app\'s own readiness deadline', () => {
    for (const app of byRole(run, 'app')) {
      expect(app.inputs.healthcheck.tests.join(' ')).toContain('/health/ready');
      expect(seconds(app.inputs.healthcheck.timeout) * 1000, app.name).toBeGreaterThan(readinessTimeoutMs);
    }
  });

  test('Redis: each container has a memory limit and maxmemory at most 80 % of it; sessions refuse writes (noeviction)', () => {
    for (const role of ['redis-sessions', 'redis-cache']) {
      const [c] = byRole(run, role);
      const args: string[] = c.inputs.command;
      const limit = c.inputs.memory;
      expect(limit, role).toBeGreaterThan(0);
      const maxmemory = mib(redisArg(args, '--maxmemory'));
      expect(maxmemory / limit, role).toBeLessThanOrEqual(0.8);
      expect(maxmemory / limit, role).toBeGreaterThanOrEqual(0.6);
    }
    expect(redisArg(byRole(run, 'redis-sessions')[0].inputs.command, '--maxmemory-policy')).toBe('noeviction');
  });

  test('every PostgreSQL node caps the WAL a slot may hold back; the sync-config one-shot drops slots of removed replicas', () => {
    for (const c of [...byRole(run, 'postgres-primary'), ...byRole(run, 'postgres-replica')]) {
      expect(serverSettings(c).max_slot_wal_keep_size, c.name).toMatch(/^\d+MB$/);
    }
    const script: string = byRole(run, 'postgres-sync-config')[0].inputs.entrypoints.join(' ');
    expect(script).toContain("CASE WHEN slot_name ~ '^pg_[0-9]+$' THEN substr(slot_name, 4)::int > 2 ELSE false END");
    expect(script).toContain('pg_drop_replication_slot');
  });

  test('connection budget: at the largest count, every app and its create-before-delete replacement fit in max_connections', async () => {
    const max = await runStaging(16, 8);
    const apps = byRole(max, 'app');
    expect(apps).toHaveLength(16);
    const [primary] = byRole(max, 'postgres-primary');
    const settings = serverSettings(primary);
    for (const node of [...byRole(max, 'postgres-primary'), ...byRole(max, 'postgres-replica')]) expect(serverSettings(node).max_connections).toBe(settings.max_connections);
    // A release replaces every app create-before-delete, and Pulumi deletes the old ones last.
    for (const app of apps) expect(app.deleteBeforeReplace).toBe(false);
    const perApp = (c: RecordedResource) => Number(envFromList(c.inputs.envs).AIDIARY_DB_POOL_SIZE) + MONITOR_CONNECTIONS_PER_NODE;
    const migration = Number(envFromList(byRole(max, 'migrate')[0].inputs.envs).AIDIARY_DB_POOL_SIZE);
    const duringRelease = 2 * apps.reduce((sum, a) => sum + perApp(a), 0) + migration + Number(settings.superuser_reserved_connections);
    expect(duringRelease).toBeLessThanOrEqual(Number(settings.max_connections));
    expect(Number(settings.max_connections)).toBe(703);
    // max_connections never follows the counts (changing it would restart the primary).
    expect(serverSettings(byRole(run, 'postgres-primary')[0]).max_connections).toBe(settings.max_connections);
  });

  test('a count above maxAppReplicas is refused at preview, naming the limit and the fix', async () => {
    await expect(runStaging(17, 2)).rejects.toThrow(/appReplicas: 17 is above the 16 apps the connection budget allows .*set appReplicas to 16 or less, or raise maxAppReplicas/);
    const raised = await runStaging(17, 2, { maxAppReplicas: '20' });
    expect(byRole(raised, 'app')).toHaveLength(17);
    expect(Number(serverSettings(byRole(raised, 'postgres-primary')[0]).max_connections)).toBe(2 * 20 * 21 + 31);
  });

  test('initialAdminPassword: the value the apps read as their admin password file; no adminPassword output', async () => {
    const app = byRole(run, 'app')[0];
    const file = envFromList(app.inputs.envs).AIDIARY_ADMIN_PASSWORD_FILE;
    const uploaded = app.inputs.uploads.find((u: { file: string }) => u.file === file).content;
    expect(run.outputs.initialAdminPassword).toBe(uploaded);
    expect(run.outputs).not.toHaveProperty('adminPassword');
    expect(plainTextLeaks(run, plainStrings, [])).toEqual([]);
  });
});

describe('prod (Kubernetes)', () => {
  let run: ProgramRun;
  let nginxConf: string;
  beforeAll(async () => {
    run = await runProd(3, 2);
    nginxConf = run.one(K.configMap).inputs.data['nginx.conf'];
  });

  test('app pods leave the edge\'s view before they drain: preStop outlasts the resolver; the grace period covers it all', () => {
    const { validMs, timeoutMs } = resolverTiming(nginxConf);
    const pod = named(run, K.deployment, 'aidiary-prod-app').inputs.spec.template.spec;
    const c = pod.containers[0];
    const preStopMs = Number(c.lifecycle.preStop.exec.command[1]) * 1000;
    expect(preStopMs).toBeGreaterThanOrEqual(validMs + timeoutMs + 2000);
    const drainMs = Number(c.env.find((e: { name: string }) => e.name === 'AIDIARY_DRAIN_MS').value);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(preStopMs + drainMs + APP_INFLIGHT_LIMIT_MS);
  });

  test('the readiness probe waits longer than the app\'s own readiness deadline', () => {
    const c = named(run, K.deployment, 'aidiary-prod-app').inputs.spec.template.spec.containers[0];
    expect(c.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(c.readinessProbe.timeoutSeconds * 1000).toBeGreaterThan(readinessTimeoutMs);
  });

  test('nginx runs one worker per CPU of its limit', () => {
    const c = named(run, K.deployment, 'aidiary-prod-nginx').inputs.spec.template.spec.containers[0];
    const cpus = Number(c.resources.limits.cpu);
    expect(cpus).toBeGreaterThan(0);
    expect(workerProcesses(nginxConf)).toBe(String(Math.max(1, Math.floor(cpus))));
  });

  test('Redis: maxmemory at most 80 % of each pod\'s memory limit', () => {
    for (const name of ['aidiary-prod-redis-sessions', 'aidiary-prod-redis-cache']) {
      const c = named(run, K.statefulSet, name).inputs.spec.template.spec.containers[0];
      const ratio = mib(redisArg(c.args, '--maxmemory')) / mib(c.resources.limits.memory);
      expect(ratio, name).toBeLessThanOrEqual(0.8);
      expect(ratio, name).toBeGreaterThanOrEqual(0.6);
    }
  });

  test('the LoadBalancer Service comes after the ready nginx Deployment and is not awaited; the url output never blocks', () => {
    const service = named(run, K.service, 'aidiary-prod-lb');
    const nginx = named(run, K.deployment, 'aidiary-prod-nginx');
    expect(service.inputs.spec.type).toBe('LoadBalancer');
    expect(service.dependencies).toContain(nginx.urn);
    expect(service.inputs.metadata.annotations['pulumi.com/skipAwait']).toBe('true');
    expect(service.inputs.spec.externalTrafficPolicy).toBe('Local');
    // No load-balancer controller (the mocks assign no address): the output says so.
    expect(run.outputs.url).toMatch(/^pending: no load balancer address yet; see `kubectl -n aidiary-prod get service aidiary-prod-lb`/);
  });

  test.each([
    ['NodePort', /^https:\/\/<any node address>:/],
    ['ClusterIP', /^https:\/\/aidiary-prod-lb\.aidiary-prod\.svc\.cluster\.local$/],
  ])('lbServiceType %s', async (type, url) => {
    const r = await runProd(1, 1, { lbServiceType: type });
    const spec = named(r, K.service, 'aidiary-prod-lb').inputs.spec;
    expect(spec.type).toBe(type);
    if (type === 'ClusterIP') expect(spec.externalTrafficPolicy).toBeUndefined();
    expect(r.outputs.url).toMatch(url);
  });

  test('a bad lbServiceType fails before any resource, naming the key and the values', async () => {
    await expect(runProd(1, 1, { lbServiceType: 'Ingress' })).rejects.toThrow(/lbServiceType: expected LoadBalancer, NodePort, ClusterIP, got "Ingress"; run `pulumi config set lbServiceType LoadBalancer`/);
  });

  test('PodDisruptionBudget: one pod at a time; a lone app pod is never evicted while it serves, an unready one always may be', async () => {
    expect(named(run, K.pdb, 'aidiary-prod-app').inputs.spec).toMatchObject({ maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    const lone = await runProd(1, 1);
    const spec = named(lone, K.pdb, 'aidiary-prod-app').inputs.spec;
    expect(spec).toMatchObject({ minAvailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    expect(spec.maxUnavailable).toBeUndefined();
  });

  test('a failed migration Job is replaced (so run again) by the next pulumi up', () => {
    expect(run.one(K.job).inputs.metadata.annotations['pulumi.com/replaceUnready']).toBe('true');
  });

  test('connection budget: at the largest count, the apps plus the rolling update\'s surge fit in max_connections', async () => {
    const max = await runProd(16, 8);
    const app = named(max, K.deployment, 'aidiary-prod-app').inputs.spec;
    const pool = (w: RecordedResource['inputs']) => Number(w.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'AIDIARY_DB_POOL_SIZE').value);
    const params = max.one(K.cluster).inputs.spec.postgresql.parameters;
    const instances = app.replicas + app.strategy.rollingUpdate.maxSurge;
    const duringRelease = instances * (pool({ spec: app }) + MONITOR_CONNECTIONS_PER_NODE) + pool(max.one(K.job).inputs) + Number(params.superuser_reserved_connections);
    expect(duringRelease).toBeLessThanOrEqual(Number(params.max_connections));
    await expect(runProd(17, 2)).rejects.toThrow(/appReplicas: 17 is above the 16 apps/);
  });

  test('initialAdminPassword: the admin password the pods mount; no adminPassword output', () => {
    const secret = named(run, K.secret, 'aidiary-prod-app-secrets').inputs.stringData['admin-password'];
    expect(run.outputs.initialAdminPassword).toBe(secret);
    expect(run.outputs).not.toHaveProperty('adminPassword');
  });
});
