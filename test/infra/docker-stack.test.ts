import { describe, expect, test, beforeAll } from 'vitest';
import { loadConfig } from '../../app/config';
import { aclPasswordHash, redisAclFile, redisDefaultUserRule, redisHealthcheckPasswordFile, redisUsers } from '../../infra/redis-settings';
import { requireExitZero } from '../../infra/docker/one-shot-gate';
import { appInstances, dbInstances, parseTopology, synchronousStandbyNames } from '../../infra/topology';
import { plainStrings, type ProgramRun, type RecordedResource } from './pulumi-harness';
import { byRole, CONTAINER, counts, envFromList, labelsOf, materializeSecretFiles, plainTextLeaks, runStaging } from './stack-fixtures';

// Staging (Docker) stack under Pulumi mocks, for 1, 3 and 7 apps and DB replicas.

const VOLUME = 'docker:index/volume:Volume';

const topologyOf = (n: number) => parseTopology({ name: 'aidiary-staging', target: 'docker', host: '0.0.0.0', appReplicas: n, dbReplicas: n });

describe.each(counts)('staging stack with %i apps and as many DB replicas', (n) => {
  const t = topologyOf(n);
  let run: ProgramRun;
  beforeAll(async () => { run = await runStaging(n, n); });

  test('creates exactly the containers, volumes and images the topology asks for', () => {
    expect(byRole(run, 'app')).toHaveLength(n);
    expect(byRole(run, 'postgres-primary')).toHaveLength(1);
    expect(byRole(run, 'postgres-replica')).toHaveLength(n);
    expect(byRole(run, 'redis-sessions')).toHaveLength(1);
    expect(byRole(run, 'redis-cache')).toHaveLength(1);
    expect(byRole(run, 'postgres-sync-config')).toHaveLength(1);
    expect(byRole(run, 'migrate')).toHaveLength(1);
    expect(byRole(run, 'lb')).toHaveLength(1);
    expect(run.byType(CONTAINER)).toHaveLength(n + (n + 1) + 2 + 3);
    // One named volume per PostgreSQL node plus the sessions Redis (AOF); the cache has none.
    expect(run.byType(VOLUME)).toHaveLength(n + 2);
    expect(run.byType('docker:index/image:Image').map((i) => i.inputs.build.target).sort()).toEqual(['app', 'edge']);
    expect(run.byType('docker:index/network:Network')).toHaveLength(1);
  });

  test('nginx resolves the app alias, which exactly the app containers carry', () => {
    const nginx = byRole(run, 'lb')[0];
    const conf: string = nginx.inputs.uploads.find((u: { file: string }) => u.file === '/etc/nginx/aidiary/nginx.conf').content;
    const servers = conf.split('\n').filter((l) => /^\s*server\s+[^{]+;$/.test(l) && !l.includes('listen'));
    expect(servers).toHaveLength(1);
    expect(servers[0]).toMatch(/server app:3000 resolve /);
    expect(conf).toMatch(/resolver 127\.0\.0\.11 valid=\d+s/);
    expect(conf).toContain('least_conn;');
    // Served under the derived origin's name and the loopback names; no proxy believed by default.
    expect(conf).toMatch(/map \$host \$aidiary_known_host \{\s*default 0;\s*localhost 1;\s*127\.0\.0\.1 1;\s*\}/);
    expect(conf).not.toContain('set_real_ip_from');
    expect(conf).not.toContain('Strict-Transport-Security');

    const withAlias = run.byType(CONTAINER).filter((c) => c.inputs.networksAdvanced?.some((net: { aliases?: string[] }) => net.aliases?.includes('app')));
    expect(withAlias.map((c) => c.inputs.hostname).sort()).toEqual(appInstances(t).map((a) => a.name).sort());
    for (const c of withAlias) expect(labelsOf(c)['aidiary.instance']).toBe(c.inputs.hostname);
  });

  test('app env lists the primary and every replica by alias; the primary is pg-0', () => {
    const primary = byRole(run, 'postgres-primary')[0];
    expect(primary.inputs.networksAdvanced[0].aliases).toEqual(['pg-0']);
    expect(primary.inputs.command[0]).toBe('primary');
    const replicas = byRole(run, 'postgres-replica');
    for (const r of replicas) {
      const env = envFromList(r.inputs.envs);
      expect(r.inputs.command[0]).toBe('replica');
      expect(env.AIDIARY_PRIMARY_HOST).toBe('pg-0');
      expect(env.AIDIARY_SLOT_NAME).toBe(`pg_${r.inputs.hostname.split('-')[1]}`);
    }
    for (const app of byRole(run, 'app')) {
      const env = envFromList(app.inputs.envs);
      const nodes = env.AIDIARY_DB_NODES.split(',');
      expect(nodes[0]).toBe('pg-0@pg-0:5432');
      // Reads go to these replicas (the app finds the primary by role and reads elsewhere).
      expect(nodes.slice(1).sort()).toEqual(replicas.map((r) => `${r.inputs.hostname}@${r.inputs.hostname}:5432`).sort());
      expect(env.AIDIARY_APP_NAME).toBe(app.inputs.hostname);
      expect(env.AIDIARY_REDIS_SESSIONS_URL).toBe('redis://redis-sessions:6380');
      expect(env.AIDIARY_REDIS_CACHE_URL).toBe('redis://redis-cache:6381');
    }
    // Migrations write: the primary only.
    expect(envFromList(byRole(run, 'migrate')[0].inputs.envs).AIDIARY_DB_NODES).toBe('pg-0@pg-0:5432');
  });

  test('the env each app container gets is accepted by the app config parser', () => {
    for (const c of [...byRole(run, 'app'), ...byRole(run, 'migrate')]) {
      const uploads = new Map<string, string>(c.inputs.uploads.map((u: { file: string; content: string }) => [u.file, u.content]));
      const env = materializeSecretFiles(envFromList(c.inputs.envs), (path) => {
        if (!uploads.has(path)) throw new Error(`${c.name}: ${path} is not uploaded`);
        return uploads.get(path)!;
      });
      const config = loadConfig(env);
      expect(config.dbNodes?.[0].name).toBe('pg-0');
      expect(config.sessionSecret.length).toBeGreaterThanOrEqual(32);
      expect(run.generatedSecrets).toContain(config.dbPassword);
      expect(config.host).toBe('0.0.0.0');
      expect(config.siteUrl).toBe('http://localhost:8080');
      expect(config.trustedEdge).toEqual(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']);
    }
  });

  test('redis requires a login: ACL file uploaded, healthcheck authenticates from a file, apps and migrations get their password files', () => {
    const uploadsOf = (c: RecordedResource) => new Map<string, { content: string; permissions: string }>(c.inputs.uploads.map((u: { file: string; content: string; permissions: string }) => [u.file, u]));
    const appConfigs = [...byRole(run, 'app'), ...byRole(run, 'migrate')].map((c) => {
      const uploads = uploadsOf(c);
      return loadConfig(materializeSecretFiles(envFromList(c.inputs.envs), (path) => uploads.get(path)!.content));
    });
    for (const role of ['sessions', 'cache'] as const) {
      const redis = byRole(run, `redis-${role}`)[0];
      expect(redis.inputs.command.join(' ')).toContain(`--aclfile ${redisAclFile}`);
      const uploads = uploadsOf(redis);
      const acl = uploads.get(redisAclFile)!.content;
      expect(acl.split('\n')[0]).toBe(redisDefaultUserRule);
      for (const config of appConfigs) {
        const auth = role === 'sessions' ? config.redisSessionsAuth! : config.redisCacheAuth!;
        expect(auth.username).toBe(redisUsers.app);
        expect(run.generatedSecrets).toContain(auth.password);
        expect(acl).toContain(`user ${redisUsers.app} on ${aclPasswordHash(auth.password)} `);
        expect(acl).not.toContain(auth.password);
      }
      const probe = uploads.get(redisHealthcheckPasswordFile)!;
      expect(probe.permissions).toBe('0440');
      expect(acl).toContain(`user ${redisUsers.healthcheck} on ${aclPasswordHash(probe.content)} `);
      expect(redis.inputs.healthcheck.tests).toEqual(['CMD-SHELL', expect.stringContaining(`REDISCLI_AUTH="$(cat ${redisHealthcheckPasswordFile})" redis-cli --no-auth-warning --user ${redisUsers.healthcheck} -p `)]);
    }
    expect(appConfigs[0].redisSessionsAuth!.password).not.toBe(appConfigs[0].redisCacheAuth!.password);
  });

  test('no secret appears in plain text: not in env, commands or any input outside secret Outputs', () => {
    expect(plainTextLeaks(run, plainStrings, [])).toEqual([]);
    for (const c of run.byType(CONTAINER)) {
      for (const e of c.inputs.envs ?? []) expect(e).not.toMatch(/PASSWORD=|SECRET=/);
      for (const u of c.inputs.uploads ?? []) {
        if (/secrets|pgpass|uploads\//.test(u.file)) expect(u.permissions).toMatch(/^04[04]0$/);
      }
    }
  });

  test('long-running containers have health checks, restart policies and wait for health', () => {
    for (const c of run.byType(CONTAINER)) {
      if (['migrate', 'postgres-sync-config'].includes(labelsOf(c)['aidiary.role'])) {
        expect(c.inputs).toMatchObject({ mustRun: false, restart: 'no', attach: true });
        continue;
      }
      expect(c.inputs.healthcheck?.tests?.length, c.name).toBeGreaterThan(1);
      expect(c.inputs.restart).toBe('unless-stopped');
      expect(c.inputs.wait).toBe(true);
    }
    for (const app of byRole(run, 'app')) {
      expect(app.inputs.healthcheck.tests.join(' ')).toContain('/health/ready');
      expect(app.inputs.user).toMatch(/^1000:/);
      // The image's CMD (infra/topology/app-runtime.ts appCommand, checked in stack-files.test.ts)
      // starts it: the same Node.js flags as the local runner.
      expect(app.inputs.command).toBeUndefined();
      expect(app.inputs.entrypoints).toBeUndefined();
    }
  });

  test('app containers are replaced create-before-delete; stateful ones have fixed names', () => {
    for (const app of byRole(run, 'app')) {
      expect(app.inputs.name).toBeUndefined();
      expect(app.deleteBeforeReplace).toBe(false);
    }
    for (const c of [...byRole(run, 'postgres-primary'), ...byRole(run, 'postgres-replica'), ...byRole(run, 'redis-sessions')]) {
      expect(c.inputs.name).toMatch(/^aidiary-staging-/);
      expect(c.deleteBeforeReplace).toBe(true);
      expect(c.inputs.volumes).toHaveLength(1);
      expect(c.inputs.volumes[0].volumeName).toBe(`${c.inputs.name}-data`);
    }
  });

  test('order: primary, replicas, sync config, migrations, apps, nginx', () => {
    const urnOf = (c: RecordedResource) => c.urn;
    const [primary] = byRole(run, 'postgres-primary');
    const [sync] = byRole(run, 'postgres-sync-config');
    const [migrate] = byRole(run, 'migrate');
    for (const r of byRole(run, 'postgres-replica')) expect(r.dependencies).toContain(urnOf(primary));
    for (const db of [primary, ...byRole(run, 'postgres-replica')]) expect(sync.dependencies).toContain(urnOf(db));
    expect(migrate.dependencies).toContain(urnOf(sync));
    for (const r of [...byRole(run, 'redis-sessions'), ...byRole(run, 'redis-cache')]) expect(migrate.dependencies).toContain(urnOf(r));
    for (const app of byRole(run, 'app')) expect(app.dependencies).toContain(urnOf(migrate));
    const [lb] = byRole(run, 'lb');
    for (const app of byRole(run, 'app')) expect(lb.dependencies).toContain(urnOf(app));
  });

  test('synchronous_standby_names follows the durability mode and names every standby', () => {
    const [sync] = byRole(run, 'postgres-sync-config');
    const script: string = sync.inputs.entrypoints.join(' ');
    const expected = synchronousStandbyNames(t);
    expect(script).toContain(`synchronous_standby_names = '${expected}'`);
    if (n >= 2) expect(expected).toBe(`ANY 1 (${dbInstances(t).slice(1).map((d) => d.slotName).join(', ')})`);
    else expect(expected).toBe('');
  });
});

test('an operator-chosen admin password flows as a secret into the admin password file', async () => {
  const run = await runStaging(1, 1, { adminPassword: 'operator-chosen-admin-password' });
  expect(plainTextLeaks(run, plainStrings, ['operator-chosen-admin-password'])).toEqual([]);
  const app = byRole(run, 'app')[0];
  const upload = app.inputs.uploads.find((u: { file: string }) => u.file === envFromList(app.inputs.envs).AIDIARY_ADMIN_PASSWORD_FILE);
  expect(upload.content).toBe('operator-chosen-admin-password');
  expect(run.byType('random:index/randomPassword:RandomPassword').map((r) => r.name)).not.toContain('secrets-admin-password');
});

test('a one-shot that exited non-zero fails every input that waits on it, naming the command that re-runs it', async () => {
  const run = await runStaging(1, 1);
  const migrate = byRole(run, 'migrate')[0];
  expect(requireExitZero('migrations', 'migrations-run-x', 0, migrate.urn)).toBe('migrations-run-x');
  expect(() => requireExitZero('migrations', 'migrations-run-x', 1, migrate.urn)).toThrow(/migrations: migrations-run-x exited with 1; see `docker logs migrations-run-x`/);
  // The failed run stays in the state; the next `pulumi up` would not run it again by itself.
  expect(() => requireExitZero('migrations', 'migrations-run-x', 1, migrate.urn)).toThrow(`run it again with \`pulumi up --replace '${migrate.urn}'\``);
  expect(migrate.urn).toMatch(/::migrations-run$/);
});

test('apps carry the migration gate; migrations carry the sync-config gate', async () => {
  const run = await runStaging(2, 2);
  for (const app of byRole(run, 'app')) expect(labelsOf(app)['aidiary.migrations']).toBe('migrations-run-1a2b3c4');
  expect(labelsOf(byRole(run, 'migrate')[0])['aidiary.after']).toBe('database-sync-config-1a2b3c4');
});

test('the derived origin follows lbPort; siteUrl and trustedProxies from the config reach the edge and the apps', async () => {
  const derived = await runStaging(1, 1, { lbPort: '9090' });
  const app = byRole(derived, 'app')[0];
  expect(envFromList(app.inputs.envs).AIDIARY_SITE_URL).toBe('http://localhost:9090');
  const set = await runStaging(1, 1, { siteUrl: 'https://staging.example.net', trustedProxies: '192.0.2.0/24, 2001:db8::/32' });
  expect(envFromList(byRole(set, 'app')[0].inputs.envs).AIDIARY_SITE_URL).toBe('https://staging.example.net');
  const conf: string = byRole(set, 'lb')[0].inputs.uploads.find((u: { file: string }) => u.file === '/etc/nginx/aidiary/nginx.conf').content;
  expect(conf).toMatch(/map \$host \$aidiary_known_host \{\s*default 0;\s*staging\.example\.net 1;\s*127\.0\.0\.1 1;\s*localhost 1;\s*\}/);
  expect(conf).toContain('set_real_ip_from 192.0.2.0/24;');
  expect(conf).toContain('set_real_ip_from 2001:db8::/32;');
  expect(conf).toContain('real_ip_header X-Forwarded-For;');
});
