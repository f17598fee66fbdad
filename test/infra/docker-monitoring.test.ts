import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test, onTestFinished } from 'vitest';
import { aclPasswordHash, redisAclFile, redisUsers } from '../../infra/redis-settings';
import { dbInstances, parseTopology, redisInstances } from '../../infra/topology';
import {
  dockerPrometheusConfig, monitorRole, monitorRoleScript, nginxExporterPort, postgresExporterPort, prometheusConfigFile,
  prometheusRulesFile, redisExporterPort,
} from '../../infra/docker/monitoring';
import { nginxExporterImage, postgresExporterImage, prometheusImage, redisExporterImage } from '../../infra/docker/images';
import { freePort } from '../../infra/local/process';
import { startTestPostgres } from '../helpers/services';
import { plainStrings, type ProgramRun, type RecordedResource } from './pulumi-harness';
import { byRole, CONTAINER, envFromList, labelsOf, plainTextLeaks, runStaging, tempDir } from './stack-fixtures';

// Staging's monitoring (`monitoring: prometheus`): Prometheus and the exporters as containers,
// under Pulumi mocks. The rendered Prometheus config goes through Debian's promtool; the Redis
// exporter's rendered arguments and password file log in to a real redis-server that loads the
// stack's own ACL file.

const uploadOf = (c: RecordedResource, file: string) => {
  const u = (c.inputs.uploads ?? []).find((x: { file: string }) => x.file === file);
  if (!u) throw new Error(`${c.name}: ${file} is not uploaded`);
  return u as { file: string; content: string; permissions?: string };
};
const monitoringRoles = ['prometheus', 'postgres-exporter', 'redis-exporter', 'nginx-exporter', 'postgres-monitor-role'];
/** Resources as the engine sees them, minus the URN's stack-independent noise. */
const shape = (r: RecordedResource) => ({ type: r.type, name: r.name, raw: r.raw, parent: r.parent, dependencies: [...r.dependencies].sort(), deleteBeforeReplace: r.deleteBeforeReplace });

function promtool(dir: string, ...args: string[]) {
  const r = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The uploaded config with the uploaded rules next to it, as in the container. */
function writePrometheusFiles(prometheus: RecordedResource, config = uploadOf(prometheus, prometheusConfigFile).content): string {
  const dir = tempDir('aidiary-docker-prometheus-');
  writeFileSync(join(dir, 'prometheus.yml'), config);
  writeFileSync(join(dir, 'alert-rules.yml'), uploadOf(prometheus, prometheusRulesFile).content);
  return dir;
}

function parseConfig(text: string) {
  // JSON is YAML: the generated file is a comment line, then JSON.
  return JSON.parse(text.split('\n').filter((l) => !l.startsWith('#')).join('\n'));
}

describe('staging with monitoring: prometheus', () => {
  const t = parseTopology({ name: 'aidiary-staging', target: 'docker', host: '0.0.0.0', appReplicas: 3, dbReplicas: 2 });
  let run: ProgramRun;
  let plain: ProgramRun;
  beforeAll(async () => {
    plain = await runStaging(3, 2);
    run = await runStaging(3, 2, { monitoring: 'prometheus', prometheusPort: '19090' });
  });

  test('the default stack declares nothing of it, and turning it on only adds resources', () => {
    for (const r of monitoringRoles) expect(byRole(plain, r)).toEqual([]);
    expect(plain.resources.filter((r) => r.name.startsWith('monitoring'))).toEqual([]);
    expect(JSON.stringify(plain.outputs)).not.toContain('prometheus');
    // Every resource of the default stack exists unchanged in the monitored one.
    const monitoredShapes = new Map(run.resources.map((r) => [`${r.type}::${r.name}`, shape(r)]));
    for (const r of plain.resources) expect(monitoredShapes.get(`${r.type}::${r.name}`), r.name).toEqual(shape(r));
    const added = run.resources.filter((r) => !plain.resources.some((p) => p.type === r.type && p.name === r.name));
    expect(added.every((r) => r.name.startsWith('monitoring')), added.map((r) => r.name).join()).toBe(true);
    // An explicit `none` is the default.
    return runStaging(3, 2, { monitoring: 'none' }).then((none) => expect(none.resources.map(shape)).toEqual(plain.resources.map(shape)));
  });

  test('the containers exist with their pinned images: one PostgreSQL exporter per node, one Redis exporter per role', () => {
    expect(byRole(run, 'prometheus').map((c) => c.inputs.image)).toEqual([prometheusImage]);
    const pg = byRole(run, 'postgres-exporter');
    expect(pg.map((c) => labelsOf(c)['aidiary.instance']).sort()).toEqual(dbInstances(t).map((d) => d.name).sort());
    for (const c of pg) expect(c.inputs.image).toBe(postgresExporterImage);
    const redis = byRole(run, 'redis-exporter');
    expect(redis.map((c) => labelsOf(c)['aidiary.instance']).sort()).toEqual(['redis-cache', 'redis-sessions']);
    for (const c of redis) expect(c.inputs.image).toBe(redisExporterImage);
    expect(byRole(run, 'nginx-exporter').map((c) => c.inputs.image)).toEqual([nginxExporterImage]);
    expect(byRole(run, 'postgres-monitor-role')).toHaveLength(1);
    for (const image of [prometheusImage, postgresExporterImage, redisExporterImage, nginxExporterImage]) expect(image).toMatch(/:v?\d+\.\d+\.\d+(-alpine)?$/);
    expect(run.outputs.details).toMatchObject({ prometheus: 'http://127.0.0.1:19090' });
  });

  test('Prometheus: host port on 127.0.0.1 only, data on a named volume, the production rules file', () => {
    const [p] = byRole(run, 'prometheus');
    expect(p.inputs.ports).toEqual([expect.objectContaining({ internal: 9090, external: 19090, ip: '127.0.0.1' })]);
    expect(p.inputs.volumes).toEqual([{ volumeName: 'aidiary-staging-prometheus-data', containerPath: '/prometheus' }]);
    expect(run.byType('docker:index/volume:Volume').map((v) => v.inputs.name)).toContain('aidiary-staging-prometheus-data');
    expect(uploadOf(p, prometheusRulesFile).content).toBe(readFileSync('infra/observability/alert-rules.yml', 'utf8'));
    expect(p.inputs.command).toContain(`--config.file=${prometheusConfigFile}`);
    expect(p.inputs.healthcheck.tests.join(' ')).toContain('/-/ready');
    expect(p.deleteBeforeReplace).toBe(true);
  });

  test('promtool check config accepts the uploaded config with its rules (and rejects a broken one)', () => {
    const [p] = byRole(run, 'prometheus');
    const ok = promtool(writePrometheusFiles(p), 'check', 'config', 'prometheus.yml');
    expect(ok.out).toContain('SUCCESS: prometheus.yml is valid prometheus config file syntax');
    expect(ok.out).toMatch(/SUCCESS: \d+ rules found/);
    expect(ok.status).toBe(0);
    const broken = uploadOf(p, prometheusConfigFile).content.replace('"type": "A"', '"type": "AAAAX"');
    expect(promtool(writePrometheusFiles(p, broken), 'check', 'config', 'prometheus.yml').status).not.toBe(0);
  });

  test('it scrapes the apps by their alias and every exporter where it listens, under the rules\' job names', () => {
    const [p] = byRole(run, 'prometheus');
    const config = parseConfig(uploadOf(p, prometheusConfigFile).content);
    const jobs = Object.fromEntries(config.scrape_configs.map((j: { job_name: string }) => [j.job_name, j]));
    const rules = readFileSync('infra/observability/alert-rules.yml', 'utf8');
    expect(rules).toContain('up{job=\\"aidiary-app\\"}');
    expect(rules).toContain('up{job=~\\"aidiary-edge.*\\"}');

    // Apps: DNS A records of the alias every app container (and only they) carries.
    expect(jobs['aidiary-app'].dns_sd_configs).toEqual([{ names: ['app'], type: 'A', port: 3000, refresh_interval: '5s' }]);
    const withAlias = run.byType(CONTAINER).filter((c) => c.inputs.networksAdvanced?.some((n: { aliases?: string[] }) => n.aliases?.includes('app')));
    expect(withAlias.map((c) => labelsOf(c)['aidiary.role'])).toEqual(['app', 'app', 'app']);

    const targets = (job: string) => jobs[job].static_configs.flatMap((s: { targets: string[] }) => s.targets).sort();
    const aliasOf = (c: RecordedResource) => c.inputs.networksAdvanced[0].aliases[0];
    const listenPort = (c: RecordedResource) => Number(/--web\.listen-address=:(\d+)/.exec(c.inputs.command.join(' '))![1]);
    const pg = byRole(run, 'postgres-exporter');
    expect(targets('aidiary-postgres')).toEqual(pg.map((c) => `${aliasOf(c)}:${listenPort(c)}`).sort());
    expect(pg.map(listenPort)).toEqual(pg.map(() => postgresExporterPort));
    const redis = byRole(run, 'redis-exporter');
    expect(targets('aidiary-redis')).toEqual(redis.map((c) => `${aliasOf(c)}:${listenPort(c)}`).sort());
    expect(redis.map(listenPort)).toEqual([redisExporterPort, redisExporterPort]);

    // nginx's exporter lives in the edge container's network namespace: the edge's alias reaches it,
    // and it reads stub_status on that namespace's loopback.
    const [edge] = byRole(run, 'lb');
    const [nginx] = byRole(run, 'nginx-exporter');
    expect(nginx.inputs.networkMode).toBe(`container:${edge.name}-id`);
    expect(nginx.inputs.networksAdvanced ?? []).toEqual([]);
    expect(targets('aidiary-edge')).toEqual([`${aliasOf(edge)}:${nginxExporterPort}`]);
    expect(listenPort(nginx)).toBe(nginxExporterPort);
    expect(nginx.inputs.command).toContain(`--nginx.scrape-uri=http://127.0.0.1:${t.ports.stubStatus}/stub_status`);
    const edgeConf: string = uploadOf(edge, '/etc/nginx/aidiary/nginx.conf').content;
    expect(edgeConf).toContain(`listen 127.0.0.1:${t.ports.stubStatus};`);
  });

  test('each exporter reads its own node or role, logging in read-only', () => {
    for (const c of byRole(run, 'postgres-exporter')) {
      const env = envFromList(c.inputs.envs);
      const node = labelsOf(c)['aidiary.instance'];
      expect(env.DATA_SOURCE_URI).toBe(`${node}:5432/postgres?sslmode=disable`);
      expect(env.DATA_SOURCE_USER).toBe(monitorRole);
      expect(uploadOf(c, env.DATA_SOURCE_PASS_FILE).permissions).toBe('0440');
      expect(c.inputs.user).toBe('65534:0');
      const queries = JSON.parse(uploadOf(c, '/etc/postgres-exporter/queries.yaml').content);
      expect(Object.keys(queries).every((k) => k.startsWith('cnpg_'))).toBe(true);
    }
    for (const c of byRole(run, 'redis-exporter')) {
      const role = labelsOf(c)['aidiary.instance'];
      const r = redisInstances(t).find((x) => x.name === role)!;
      expect(c.inputs.command).toEqual(expect.arrayContaining([`--redis.addr=redis://${r.name}:${r.port}`, `--redis.user=${redisUsers.exporter}`]));
    }
  });

  test('passwords reach the exporters as uploaded files only, and are the ones the servers accept', () => {
    expect(plainTextLeaks(run, plainStrings, [])).toEqual([]);
    const monitored = run.byType(CONTAINER).filter((c) => monitoringRoles.includes(labelsOf(c)['aidiary.role']));
    for (const c of monitored) {
      for (const e of c.inputs.envs ?? []) expect(e).not.toMatch(/PASSWORD=|PASS=|SECRET=/);
      for (const u of c.inputs.uploads ?? []) if (/secrets|pgpass/.test(u.file)) expect(u.permissions).toMatch(/^04[04]0$/);
    }
    // PostgreSQL: the one-shot sets the role's password from the same value the exporters read.
    const [roleRun] = byRole(run, 'postgres-monitor-role');
    const pgPassword = uploadOf(byRole(run, 'postgres-exporter')[0], '/run/aidiary/secrets/pg-monitor-password').content;
    expect(run.generatedSecrets).toContain(pgPassword);
    expect(uploadOf(roleRun, '/run/aidiary/secrets/pg-monitor-password').content).toBe(pgPassword);
    for (const c of byRole(run, 'postgres-exporter')) expect(uploadOf(c, '/run/aidiary/secrets/pg-monitor-password').content).toBe(pgPassword);
    expect(roleRun.inputs.entrypoints.join(' ')).not.toContain(pgPassword);
    // Redis: the password file's entry for the exporter's address matches the ACL file's exporter hash.
    for (const c of byRole(run, 'redis-exporter')) {
      const addr = /--redis\.addr=(\S+)/.exec(c.inputs.command.join(' '))![1];
      const file = /--redis\.password-file=(\S+)/.exec(c.inputs.command.join(' '))![1];
      const map = JSON.parse(uploadOf(c, file).content);
      expect(Object.keys(map)).toEqual([addr]);
      // Instances are named after their role: redis-sessions, redis-cache.
      const [server] = byRole(run, labelsOf(c)['aidiary.instance']);
      expect(uploadOf(server, redisAclFile).content).toContain(`user ${redisUsers.exporter} on ${aclPasswordHash(map[addr])} `);
    }
  });

  test('the monitor role one-shot gates the PostgreSQL exporters and is syntactically valid shell', () => {
    const [roleRun] = byRole(run, 'postgres-monitor-role');
    expect(roleRun.inputs).toMatchObject({ mustRun: false, restart: 'no', attach: true });
    for (const c of byRole(run, 'postgres-exporter')) {
      expect(c.dependencies).toContain(roleRun.urn);
      expect(labelsOf(c)['aidiary.after']).toBe(roleRun.inputs.name ?? `${roleRun.name}-1a2b3c4`);
    }
    expect(spawnSync('bash', ['-n', '-c', monitorRoleScript()]).status).toBe(0);
    expect(monitorRoleScript()).toContain('GRANT pg_monitor TO');
  });

  test('long-running monitoring containers restart; those with a shell have health checks and are awaited', () => {
    for (const c of run.byType(CONTAINER).filter((x) => ['prometheus', 'postgres-exporter', 'redis-exporter', 'nginx-exporter'].includes(labelsOf(x)['aidiary.role']))) {
      expect(c.inputs.restart).toBe('unless-stopped');
      if (labelsOf(c)['aidiary.role'] === 'nginx-exporter') continue; // FROM scratch: no command can run in it
      expect(c.inputs.healthcheck.tests[1]).toBe('wget');
      expect(c.inputs.wait).toBe(true);
    }
  });

  test('scaling the apps leaves Prometheus alone; a PostgreSQL replica adds its exporter and target', async () => {
    const [p] = byRole(run, 'prometheus');
    const more = await runStaging(5, 3, { monitoring: 'prometheus', prometheusPort: '19090' });
    const moreApps = await runStaging(5, 2, { monitoring: 'prometheus', prometheusPort: '19090' });
    expect(shape(byRole(moreApps, 'prometheus')[0])).toEqual(shape(p));
    expect(byRole(more, 'postgres-exporter')).toHaveLength(4);
    const targets = parseConfig(uploadOf(byRole(more, 'prometheus')[0], prometheusConfigFile).content)
      .scrape_configs.find((j: { job_name: string }) => j.job_name === 'aidiary-postgres').static_configs.map((s: { labels: { node: string } }) => s.labels.node);
    expect(targets).toEqual(['pg-0', 'pg-1', 'pg-2', 'pg-3']);
  });

  test('on a real PostgreSQL the one-shot creates the role (twice: it only updates it then) and the exporter logs in with it and runs every query', async () => {
    const pg = await startTestPostgres();
    onTestFinished(() => pg.stop());
    const dir = tempDir('aidiary-pg-exporter-');
    const [roleRun] = byRole(run, 'postgres-monitor-role');
    const [exporter] = byRole(run, 'postgres-exporter').filter((c) => labelsOf(c)['aidiary.instance'] === 'pg-0');
    const env = envFromList(exporter.inputs.envs);
    const passwordFile = join(dir, 'pg-monitor-password');
    writeFileSync(passwordFile, uploadOf(roleRun, env.DATA_SOURCE_PASS_FILE).content, { mode: 0o600 });
    const queriesPath = /--extend\.query-path=(\S+)/.exec(exporter.inputs.command.join(' '))![1];
    writeFileSync(join(dir, 'queries.yaml'), uploadOf(exporter, queriesPath).content);
    // The script as uploaded, with its password file's path moved here; the superuser comes in over
    // the node's socket (trust) instead of the pgpass file.
    const script = (roleRun.inputs.entrypoints as string[])[2].replaceAll(env.DATA_SOURCE_PASS_FILE, passwordFile);
    const roleEnv = { ...process.env, ...envFromList(roleRun.inputs.envs), AIDIARY_PRIMARY_HOST: pg.primary.socketDir, AIDIARY_PRIMARY_PORT: String(pg.primary.port) };
    for (let i = 0; i < 2; i++) {
      const r = spawnSync('bash', ['-c', script], { env: roleEnv, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }

    const exporterPort = await freePort();
    const args = (exporter.inputs.command as string[]).map((a) => a.replace(queriesPath, join(dir, 'queries.yaml')).replace(`=:${postgresExporterPort}`, `=127.0.0.1:${exporterPort}`));
    const proc = spawn('prometheus-postgres-exporter', args, {
      stdio: 'ignore',
      env: { ...process.env, ...env, DATA_SOURCE_URI: env.DATA_SOURCE_URI.replace('pg-0:5432', `127.0.0.1:${pg.primary.port}`), DATA_SOURCE_PASS_FILE: passwordFile },
    });
    onTestFinished(() => { proc.kill(); });
    let metrics = '';
    for (let i = 0; i < 50 && !/^pg_up 1$/m.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 200));
      metrics = await fetch(`http://127.0.0.1:${exporterPort}/metrics`).then((r) => r.text(), () => '');
    }
    expect(metrics).toMatch(/^pg_up 1$/m);
    expect(metrics).toMatch(/^cnpg_pg_replication_in_recovery\{[^}]*\} 0$/m);
    // pg_ls_waldir() needs pg_monitor: the grant took.
    expect(metrics).toMatch(/^cnpg_aidiary_wal_bytes\{[^}]*\} [1-9]/m);
  }, 60_000);

  test('the Redis exporter\'s own arguments and password file log in to a real redis-server loading the stack\'s ACL file', async () => {
    const [exporter] = byRole(run, 'redis-exporter').filter((c) => labelsOf(c)['aidiary.instance'] === 'redis-cache');
    const [server] = byRole(run, 'redis-cache');
    const dir = tempDir('aidiary-redis-exporter-');
    const [redisPort, exporterPort] = [await freePort(), await freePort()];
    writeFileSync(join(dir, 'users.acl'), uploadOf(server, redisAclFile).content);
    const args = exporter.inputs.command as string[];
    const addr = /--redis\.addr=(\S+)/.exec(args.join(' '))![1];
    const local = `redis://127.0.0.1:${redisPort}`;
    const passwordFile = /--redis\.password-file=(\S+)/.exec(args.join(' '))![1];
    // Only the host moves: the file's map keeps its shape, keyed by the address the exporter is given.
    writeFileSync(join(dir, 'passwords.json'), uploadOf(exporter, passwordFile).content.replace(addr, local), { mode: 0o600 });
    const localArgs = args.map((a) => a.replace(addr, local).replace(passwordFile, join(dir, 'passwords.json')).replace(`:${redisExporterPort}`, `127.0.0.1:${exporterPort}`));
    const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--aclfile', join(dir, 'users.acl'), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    onTestFinished(() => { redis.kill(); });
    const exp = spawn('prometheus-redis-exporter', localArgs, { stdio: 'ignore' });
    onTestFinished(() => { exp.kill(); });
    let metrics = '';
    for (let i = 0; i < 50 && !/^redis_up 1$/m.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 200));
      metrics = await fetch(`http://127.0.0.1:${exporterPort}/metrics`).then((r) => r.text(), () => '');
    }
    expect(metrics).toMatch(/^redis_up 1$/m);
    expect(metrics).toMatch(/^redis_connected_clients \d+$/m);
  });
});

describe('monitoring config on docker', () => {
  test('a bad prometheusPort or a monitoring value of another target is a config error naming the fix', async () => {
    await expect(runStaging(1, 1, { monitoring: 'prometheus', prometheusPort: '8080' })).rejects.toThrow(/prometheusPort: expected a free host port \(1-65535\) other than lbPort 8080, got 8080; run `pulumi config set prometheusPort <port>`/);
    // Without Prometheus the key is not read: lbPort 9090 with the default prometheusPort stays valid.
    await expect(runStaging(1, 1, { lbPort: '9090' })).resolves.toBeDefined();
    await expect(runStaging(1, 1, { monitoring: 'prometheus', prometheusPort: '70000' })).rejects.toThrow(/prometheusPort: expected/);
    await expect(runStaging(1, 1, { monitoring: 'prometheus-operator' })).rejects.toThrow(/monitoring: expected none or prometheus on target docker, got "prometheus-operator"; run `pulumi config set monitoring prometheus`/);
  });

  test('the rendered config does not depend on the app count', () => {
    const config = (apps: number) => dockerPrometheusConfig(parseTopology({ name: 'aidiary-staging', target: 'docker', host: '0.0.0.0', appReplicas: apps, dbReplicas: 1 }));
    expect(config(1)).toBe(config(9));
  });
});
