import { describe, expect, it } from 'vitest';
import type { CommandExecutor } from '../../infra/drills/cluster-driver';
import type { Scenario } from '../../infra/drills/drill-report';
import { DockerDriver } from '../../infra/drills/docker-driver';
import { KubernetesDriver } from '../../infra/drills/kubernetes-driver';
import { scenarioPlans, type ScenarioContext } from '../../infra/drills/scenarios';
import { RestoreStack } from '../../infra/restore-stack';
import { parseTopology } from '../../infra/topology';

// Every drill scenario run against the Docker and Kubernetes drivers, on fake docker/kubectl/pulumi
// executables that keep state (a killed container is exited, a promoted node answers as primary,
// a force-deleted pod is gone until its controller re-creates it). Each test asserts the exact
// commands that change the cluster, in order: what an operator would see the drill run.

type Plan = Exclude<Scenario, 'restore'>;

async function runScenario(name: Plan, driver: DockerDriver | KubernetesDriver): Promise<void> {
  const ctx: ScenarioContext = { driver, holdMs: 5, log: () => {}, notes: [], restore: new RestoreStack(() => {}), markFault: () => {} };
  await scenarioPlans[name].inject(ctx);
  expect(ctx.restore.pending()).toEqual([]); // every change was put back by the drill itself
}

// ---- Docker --------------------------------------------------------------------------------

interface FakeContainer { id: string; role: string; instance: string; state: 'running' | 'exited' | 'paused'; restart: string; primary?: boolean; lsn?: number }

function fakeDocker() {
  const cs: FakeContainer[] = [
    { id: 'c-app0', role: 'app', instance: 'app-0', state: 'running', restart: 'unless-stopped' },
    { id: 'c-app1', role: 'app', instance: 'app-1', state: 'running', restart: 'unless-stopped' },
    { id: 'c-lb', role: 'lb', instance: 'nginx', state: 'running', restart: 'unless-stopped' },
    { id: 'c-sync', role: 'postgres-sync-config', instance: 'pg-0', state: 'exited', restart: 'no' },
    { id: 'c-pg0', role: 'postgres-primary', instance: 'pg-0', state: 'running', restart: 'unless-stopped', primary: true },
    { id: 'c-pg1', role: 'postgres-replica', instance: 'pg-1', state: 'running', restart: 'unless-stopped', lsn: 900 },
    { id: 'c-pg2', role: 'postgres-replica', instance: 'pg-2', state: 'running', restart: 'unless-stopped', lsn: 800 },
    { id: 'c-rs', role: 'redis-sessions', instance: 'redis-sessions', state: 'running', restart: 'unless-stopped' },
    { id: 'c-rc', role: 'redis-cache', instance: 'redis-cache', state: 'running', restart: 'unless-stopped' },
  ];
  const calls: string[][] = [];
  const config: Record<string, string> = {};
  const byId = (id: string) => {
    const c = cs.find((x) => x.id === id);
    if (!c) throw new Error(`docker: no such container ${id}`);
    return c;
  };
  const exec: CommandExecutor = async (command, args) => {
    calls.push([command, ...args]);
    const out = (stdout: string) => ({ stdout });
    if (command === 'pulumi') {
      if (args[0] === 'config') config[args[4]] = args[5];
      if (args[0] === 'up') {
        // The stack re-creates a fenced former primary as a replica (entrypoint.sh re-clones it).
        for (const c of cs.filter((x) => x.role.startsWith('postgres-') && x.restart === 'no' && x.id !== 'c-sync')) Object.assign(c, { state: 'running', restart: 'unless-stopped', primary: false, lsn: 1 });
      }
      return out('');
    }
    const [verb] = args;
    if (verb === 'ps') {
      return out(cs.map((c) => JSON.stringify({
        ID: c.id, Labels: `aidiary.stack=aidiary-staging,aidiary.role=${c.role},aidiary.instance=${c.instance}`,
        State: c.state, Status: c.state === 'running' ? 'Up 1 minute (healthy)' : c.state === 'paused' ? 'Up 1 minute (Paused)' : 'Exited (137)',
      })).join('\n'));
    }
    const c = byId(args.at(-1)!.startsWith('c-') ? args.at(-1)! : args[3]);
    switch (verb) {
      case 'kill': if (c.state !== 'running') throw new Error(`docker kill failed: ${c.id} is not running`); c.state = 'exited'; return out('');
      case 'stop': c.state = 'exited'; return out('');
      case 'start': c.state = 'running'; return out('');
      case 'pause': c.state = 'paused'; return out('');
      case 'unpause': if (c.state !== 'paused') throw new Error(`docker unpause failed: Container ${c.id} is not paused`); c.state = 'running'; return out('');
      case 'update': c.restart = 'no'; return out('');
      case 'inspect': return out(`${c.restart}\n`);
      case 'exec': {
        if (c.state !== 'running') throw new Error(`docker exec failed: container ${c.id} is not running`);
        const sql = args.at(-1)!;
        if (args[4] === 'pg_isready') return out('accepting connections\n');
        if (sql === 'SELECT pg_is_in_recovery()') return out(c.primary ? 'f\n' : 't\n');
        if (sql.startsWith('SELECT pg_is_in_recovery(), pg_wal_lsn_diff')) return out(c.primary ? 'f|\n' : `t|${c.lsn}\n`);
        if (sql === 'SELECT pg_promote(true, 60)') { c.primary = true; return out('t\n'); }
        if (sql === 'SHOW primary_conninfo') return out(`host=${cs.find((x) => x.primary && x.state === 'running')?.instance ?? 'pg-0'} port=5432 user=replicator application_name=${c.instance.replace('-', '_')}\n`);
        return out('');
      }
    }
    throw new Error(`docker ${verb}: not faked`);
  };
  const driver = new DockerDriver({ stack: 'aidiary-staging', pulumiStack: 'staging', lbUrl: 'http://127.0.0.1:8080', database: 'aidiary', admin: { username: 'admin', password: 'x' }, exec });
  /** The calls that change something, shortened: `docker kill c-pg0`, `psql c-pg1 <sql>`, `pulumi up`. */
  const changes = () => calls.flatMap((c) => {
    if (c[0] === 'pulumi') return [c.filter((a) => !['--stack', 'staging', '--yes', '--skip-preview'].includes(a)).join(' ')];
    const [, verb] = c;
    if (verb === 'ps' || verb === 'inspect') return [];
    if (verb === 'exec') {
      const sql = c.at(-1)!;
      if (c[5] === 'pg_isready' || /^(SELECT pg_is_in_recovery|SHOW)/.test(sql)) return [];
      return [`psql ${c[4]} ${sql}`];
    }
    return [[c[0], verb, c.at(-1)].join(' ')];
  });
  return { driver, changes, config, cs };
}

describe('Docker driver: the commands each scenario runs', () => {
  const cases: [Plan, string[]][] = [
    ['kill-app', ['docker kill c-app1', 'docker start c-app1']],
    ['rolling-restart', ['docker stop c-app0', 'docker start c-app0', 'docker stop c-app1', 'docker start c-app1']],
    ['kill-replica', ['docker kill c-pg2', 'docker start c-pg2']],
    ['restart-redis', ['docker stop c-rc', 'docker start c-rc', 'docker stop c-rs', 'docker start c-rs']],
    ['stop-redis', ['docker stop c-rc', 'docker stop c-rs', 'docker start c-rc', 'docker start c-rs']],
    ['scale', ['pulumi config set appReplicas 3', 'pulumi up', 'pulumi config set appReplicas 2', 'pulumi up']],
    ['partition-primary', ['docker pause c-pg0', 'docker unpause c-pg0']],
  ];
  it.each(cases)('%s', async (name, expected) => {
    const { driver, changes } = fakeDocker();
    await runScenario(name, driver);
    expect(changes()).toEqual(expected);
  });

  const promotion = [
    "psql c-pg1 ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (pg_0, pg_2)'",
    'psql c-pg1 SELECT pg_reload_conf()',
    'psql c-pg1 SELECT pg_promote(true, 60)',
    "psql c-pg1 SELECT pg_create_physical_replication_slot('pg_2') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pg_2')",
    "psql c-pg2 ALTER SYSTEM SET primary_conninfo = 'host=pg-1 port=5432 user=replicator application_name=pg_2'",
    'psql c-pg2 SELECT pg_reload_conf()',
    // The stack learns the new primary before the pulumi up that brings the old one back.
    'pulumi config set primaryIndex 1',
  ];

  it('kill-primary: kill, two failed checks, fence, promote the most advanced standby, record it, old primary back through pulumi up', async () => {
    const { driver, changes, config, cs } = fakeDocker();
    await runScenario('kill-primary', driver);
    expect(changes()).toEqual(['docker kill c-pg0', 'docker update c-pg0', ...promotion, 'pulumi up']);
    expect(config.primaryIndex).toBe('1');
    expect(cs.filter((c) => c.primary && c.state === 'running').map((c) => c.instance)).toEqual(['pg-1']);
  }, 15_000);

  it('switchover: checkpoint, fence and stop cleanly, promote, record, old primary back through pulumi up', async () => {
    const { driver, changes, cs } = fakeDocker();
    await runScenario('switchover', driver);
    expect(changes()).toEqual(['psql c-pg0 CHECKPOINT', 'docker update c-pg0', 'docker stop c-pg0', ...promotion, 'pulumi up']);
    expect(cs.filter((c) => c.primary && c.state === 'running').map((c) => c.instance)).toEqual(['pg-1']);
  });
});

// ---- Kubernetes ----------------------------------------------------------------------------

function fakeKubectl() {
  const topology = parseTopology({ target: 'kubernetes', name: 'aidiary-prod', appReplicas: 2, dbReplicas: 2 });
  const pod = (name: string, labels: Record<string, string>) => ({ name, labels, deleted: false });
  const pods = [
    pod('aidiary-prod-app-a', { 'app.kubernetes.io/component': 'app' }),
    pod('aidiary-prod-app-b', { 'app.kubernetes.io/component': 'app' }),
    pod('aidiary-prod-redis-sessions-0', { 'app.kubernetes.io/component': 'redis-sessions' }),
    pod('aidiary-prod-redis-cache-0', { 'app.kubernetes.io/component': 'redis-cache' }),
  ];
  const db = [pod('aidiary-prod-db-1', { 'cnpg.io/instanceRole': 'primary' }), pod('aidiary-prod-db-2', { 'cnpg.io/instanceRole': 'replica' }), pod('aidiary-prod-db-3', { 'cnpg.io/instanceRole': 'replica' })];
  const calls: string[][] = [];
  const list = (ps: typeof pods) => JSON.stringify({
    items: ps.filter((p) => !p.deleted).map((p) => ({ metadata: { name: p.name, labels: p.labels }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } })),
  });
  const exec: CommandExecutor = async (command, args) => {
    calls.push([command, ...args]);
    const a = args.slice(args.indexOf('-n') === 0 ? 2 : 0);
    if (a[0] === 'cnpg') {
      for (const p of db) p.labels['cnpg.io/instanceRole'] = p.name === a[3] ? 'primary' : 'replica';
      return { stdout: '' };
    }
    const verb = args[args.indexOf('-n') + 2];
    const target = args[args.indexOf('-n') + 4];
    if (verb === 'get') return { stdout: list(args.some((x) => x.startsWith('cnpg.io/cluster=')) ? db : pods) };
    if (verb === 'delete') { [...pods, ...db].find((p) => p.name === target)!.deleted = true; return { stdout: '' }; }
    if (verb === 'exec') {
      const p = [...pods, ...db].find((x) => x.name === args[args.indexOf('exec') + 1]);
      if (!p || p.deleted) throw new Error('kubectl exec failed: pod not found');
      return { stdout: '[]' };
    }
    if (verb === 'wait' && args.some((x) => x.startsWith('cluster/'))) {
      for (const p of [...pods, ...db]) p.deleted = false; // the controllers re-created what was deleted
    }
    return { stdout: '' };
  };
  const driver = new KubernetesDriver({ topology, namespace: 'blog', context: 'prod', lbUrl: 'https://blog.example', admin: { username: 'admin', password: 'x' }, exec });
  const changes = () => calls.flatMap((c) => {
    const verb = c[c.indexOf('-n') + 2];
    if (c[3] === 'cnpg' || c[1] === 'cnpg') return [c.join(' ')];
    if (verb === 'get' || verb === 'exec') return [];
    return [c.slice(c.indexOf('-n') + 2).join(' ')];
  });
  return { driver, changes };
}

describe('Kubernetes driver: the commands each scenario runs', () => {
  const healthy = [
    'rollout status deployment/aidiary-prod-app --timeout=300s',
    'wait --for=condition=Ready pod -l app.kubernetes.io/name=aidiary,app.kubernetes.io/instance=aidiary-prod,app.kubernetes.io/component=app --timeout=300s',
    'wait --for=condition=Ready cluster/aidiary-prod-db --timeout=300s',
  ];
  const forced = (pod: string) => `delete pod ${pod} --grace-period=0 --force --wait=false`;
  const graceful = (pod: string) => `delete pod ${pod} --wait=true`;
  const cases: [Plan, string[]][] = [
    ['kill-app', [forced('aidiary-prod-app-b'), ...healthy]],
    ['rolling-restart', [graceful('aidiary-prod-app-a'), ...healthy, graceful('aidiary-prod-app-b'), ...healthy]],
    ['kill-replica', [forced('aidiary-prod-db-3'), ...healthy]],
    ['restart-redis', [graceful('aidiary-prod-redis-cache-0'), ...healthy, graceful('aidiary-prod-redis-sessions-0'), ...healthy]],
    ['scale', ['scale deployment/aidiary-prod-app --replicas=3', 'scale deployment/aidiary-prod-app --replicas=2']],
    ['switchover', ['kubectl --context prod cnpg promote aidiary-prod-db aidiary-prod-db-2 -n blog']],
    ['kill-primary', [forced('aidiary-prod-db-1'), 'kubectl --context prod cnpg promote aidiary-prod-db aidiary-prod-db-2 -n blog', ...healthy]],
  ];
  it.each(cases)('%s', async (name, expected) => {
    const { driver, changes } = fakeKubectl();
    await runScenario(name, driver);
    expect(changes()).toEqual(expected);
  }, 15_000);

  it('partition-primary is refused before any change (the CLI refuses it up front: drill-target.ts)', async () => {
    const { driver, changes } = fakeKubectl();
    await expect(runScenario('partition-primary', driver)).rejects.toThrow(/NetworkPolicy/);
    expect(changes()).toEqual([]);
  });
});
