import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../infra/topology';
import type { CommandExecutor } from '../../infra/drills/cluster-driver';
import { DockerDriver } from '../../infra/drills/docker-driver';
import { KubernetesDriver } from '../../infra/drills/kubernetes-driver';

// The Docker and Kubernetes drill drivers are checked for the exact commands they would run,
// through a recording executor that answers like docker/kubectl would.

type Responder = (command: string, args: string[]) => string;

function recorder(respond: Responder = () => '') {
  const calls: string[][] = [];
  const exec: CommandExecutor = async (command, args) => {
    calls.push([command, ...args]);
    return { stdout: respond(command, args) };
  };
  return { calls, exec };
}

const admin = { username: 'admin', password: 'x' };

describe('DockerDriver', () => {
  // Labels as infra/docker/* sets them (container-labels.ts). The sync-config one-shot carries
  // instance pg-0 too: it must never be taken for the node.
  const label = (role: string, instance: string) => `aidiary.stack=aidiary-staging,aidiary.role=${role},aidiary.instance=${instance}`;
  const baseLines = () => [
    { ID: 'c-app1', Labels: label('app', 'app-1'), State: 'running', Status: 'Up 2 minutes (healthy)' },
    { ID: 'c-sync', Labels: label('postgres-sync-config', 'pg-0'), State: 'exited', Status: 'Exited (0)' },
    { ID: 'c-pg0', Labels: label('postgres-primary', 'pg-0'), State: 'running', Status: 'Up 2 minutes (healthy)' },
    { ID: 'c-pg1', Labels: label('postgres-replica', 'pg-1'), State: 'running', Status: 'Up 2 minutes (healthy)' },
    { ID: 'c-pg2', Labels: label('postgres-replica', 'pg-2'), State: 'running', Status: 'Up 2 minutes (healthy)' },
    { ID: 'c-rs', Labels: label('redis-sessions', 'redis-sessions'), State: 'running', Status: 'Up (unhealthy)' },
    { ID: 'c-lb', Labels: label('lb', 'nginx'), State: 'running', Status: 'Up 2 minutes' },
  ];
  /** A fake Docker host: containers, which answer as primary, WAL positions, restart policies. */
  const make = (o: { primary?: string | null; lsn?: Record<string, string>; exited?: string[]; restart?: Record<string, string> } = {}) => {
    const primary = o.primary === undefined ? 'c-pg0' : o.primary;
    const lsn = o.lsn ?? { 'c-pg1': '5000', 'c-pg2': '4000' };
    const lines = baseLines().map((l) => (o.exited?.includes(l.ID) ? { ...l, State: 'exited', Status: 'Exited (137)' } : l));
    const respond: Responder = (cmd, args) => {
      if (cmd !== 'docker') return '';
      if (args[0] === 'ps') return lines.map((l) => JSON.stringify(l)).join('\n');
      if (args[0] === 'inspect') return `${o.restart?.[args.at(-1)!] ?? 'unless-stopped'}\n`;
      if (args[0] === 'exec') {
        const id = args[3];
        if (o.exited?.includes(id)) throw new Error(`docker exec failed: container ${id} is not running`);
        const sql = args.at(-1)!;
        if (sql === 'SELECT pg_is_in_recovery()') return id === primary ? 'f\n' : 't\n';
        if (sql.startsWith('SELECT pg_is_in_recovery(), pg_wal_lsn_diff')) return id === primary ? 'f|\n' : `t|${lsn[id]}\n`;
        if (sql === 'SHOW primary_conninfo') return 'host=pg-0 port=5432 user=replicator application_name=pg_2\n';
        if (sql.includes('json_agg')) return '[{"id":1,"title":"a"}]\n';
      }
      return '';
    };
    const r = recorder(respond);
    return { ...r, driver: new DockerDriver({ stack: 'aidiary-staging', pulumiStack: 'staging', lbUrl: 'http://127.0.0.1:8080/', database: 'aidiary', admin, exec: r.exec }) };
  };
  const psql = (id: string, sql: string) => ['docker', 'exec', '-u', 'postgres', id, 'psql', '-d', 'postgres', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql];
  /** The calls that change something (no ps/inspect/read-only psql). */
  const changes = (calls: string[][]) => calls.filter((c) => !['ps', 'inspect'].includes(c[1]) && !(c[1] === 'exec' && /^(SELECT pg_is_in_recovery|SHOW)/.test(c.at(-1)!)));

  it('finds a node\'s container by its role and instance labels, not a one-shot with the same instance', async () => {
    const { driver, calls } = make();
    await driver.killNode('app-1');
    await driver.pause('pg-0');
    expect(calls).toEqual([
      ['docker', 'ps', '-a', '--filter', 'label=aidiary.stack=aidiary-staging', '--format', '{{json .}}'],
      ['docker', 'kill', '--signal', 'SIGKILL', 'c-app1'],
      ['docker', 'ps', '-a', '--filter', 'label=aidiary.stack=aidiary-staging', '--format', '{{json .}}'],
      ['docker', 'pause', 'c-pg0'],
    ]);
  });

  it('stops, starts, pauses and unpauses with the documented commands; unpausing twice is fine', async () => {
    const r = recorder((_c, args) => {
      if (args[0] === 'ps') return baseLines().map((l) => JSON.stringify(l)).join('\n');
      if (args[0] === 'unpause' && r.calls.filter((c) => c[1] === 'unpause').length > 1) throw new Error('docker unpause failed: Container c-pg0 is not paused');
      return '';
    });
    const driver = new DockerDriver({ stack: 'aidiary-staging', pulumiStack: 'staging', lbUrl: 'x', database: 'aidiary', admin, exec: r.exec });
    await driver.stopNode('app-1');
    await driver.startNode('app-1');
    await driver.pause('pg-0');
    await driver.resume('pg-0');
    await driver.resume('pg-0');
    expect(r.calls.filter((c) => c[1] !== 'ps')).toEqual([
      ['docker', 'stop', '--time', '30', 'c-app1'],
      ['docker', 'start', 'c-app1'],
      ['docker', 'pause', 'c-pg0'],
      ['docker', 'unpause', 'c-pg0'],
      ['docker', 'unpause', 'c-pg0'],
    ]);
  });

  it('lists nodes with live PostgreSQL roles and container health', async () => {
    const { driver } = make({ exited: ['c-pg2'] });
    expect(await driver.listNodes()).toEqual([
      { name: 'app-1', kind: 'app', healthy: true },
      { name: 'nginx', kind: 'lb', healthy: true },
      { name: 'pg-0', kind: 'postgres', role: 'primary', healthy: true },
      { name: 'pg-1', kind: 'postgres', role: 'replica', healthy: true },
      { name: 'pg-2', kind: 'postgres', healthy: false },
      { name: 'redis-sessions', kind: 'redis', role: 'sessions', healthy: false },
    ]);
  });

  it('kill-primary: fences the crashed primary before promoting the most advanced standby, re-points the other, records the primary', async () => {
    const { driver, calls } = make({ primary: null, exited: ['c-pg0'] });
    const r = await driver.failover();
    expect(r.promoted).toBe('pg-1');
    expect(changes(calls)).toEqual([
      // The fence: Docker's restart policy (unless-stopped) must not bring it back as a primary.
      ['docker', 'update', '--restart=no', 'c-pg0'],
      // The quorum over the new primary's peers before it takes a write (as infra/local/failover.ts).
      psql('c-pg1', "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (pg_0, pg_2)'"),
      psql('c-pg1', 'SELECT pg_reload_conf()'),
      psql('c-pg1', 'SELECT pg_promote(true, 60)'),
      // Physical slots are not replicated: the follower's slot is made on the new primary first.
      psql('c-pg1', "SELECT pg_create_physical_replication_slot('pg_2') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pg_2')"),
      psql('c-pg2', "ALTER SYSTEM SET primary_conninfo = 'host=pg-1 port=5432 user=replicator application_name=pg_2'"),
      psql('c-pg2', 'SELECT pg_reload_conf()'),
      ['pulumi', 'config', 'set', '--stack', 'staging', 'primaryIndex', '1'],
    ]);
  });

  it('a primary that still runs (a partition, not a crash) is killed as well as fenced before the promotion', async () => {
    const { driver, calls } = make({ lsn: { 'c-pg1': '5000', 'c-pg2': '7000' } });
    expect((await driver.failover()).promoted).toBe('pg-2');
    expect(changes(calls).slice(0, 2)).toEqual([['docker', 'update', '--restart=no', 'c-pg0'], ['docker', 'kill', '--signal', 'SIGKILL', 'c-pg0']]);
    expect(changes(calls).findIndex((c) => c.at(-1) === 'SELECT pg_promote(true, 60)')).toBeGreaterThan(1);
    expect(calls.at(-1)).toEqual(['pulumi', 'config', 'set', '--stack', 'staging', 'primaryIndex', '2']);
  });

  it('failover --to a node that is not a running standby is refused after the fence, promoting nothing', async () => {
    const { driver, calls } = make({ primary: null, exited: ['c-pg0', 'c-pg2'] });
    await expect(driver.failover('pg-2')).rejects.toThrow(/pg-2 is not a running standby/);
    expect(calls.some((c) => c.at(-1)!.includes('pg_promote'))).toBe(false);
  });

  it('switchover: checkpoint, fence and stop the primary cleanly, promote, record, rejoin', async () => {
    const { driver, calls } = make();
    expect((await driver.switchover()).promoted).toBe('pg-1');
    expect(changes(calls).slice(0, 4)).toEqual([
      ['docker', 'exec', '-u', 'postgres', 'c-pg0', 'psql', '-d', 'postgres', '-At', '-v', 'ON_ERROR_STOP=1', '-c', 'CHECKPOINT'],
      ['docker', 'update', '--restart=no', 'c-pg0'],
      ['docker', 'stop', '--time', '60', 'c-pg0'],
      psql('c-pg1', "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (pg_0, pg_2)'"),
    ]);
    expect(changes(calls)).toContainEqual(psql('c-pg1', 'SELECT pg_promote(true, 60)'));
    // Recorded, then the old primary comes back as a replica through the stack.
    expect(calls.slice(-2)).toEqual([['pulumi', 'config', 'set', '--stack', 'staging', 'primaryIndex', '1'], ['pulumi', 'up', '--stack', 'staging', '--yes', '--skip-preview']]);
  });

  it('a fenced former primary comes back through pulumi up (re-created as a replica); a merely stopped node through docker start', async () => {
    const fenced = make({ primary: 'c-pg1', exited: ['c-pg0'], restart: { 'c-pg0': 'no' } });
    await fenced.driver.startNode('pg-0');
    expect(changes(fenced.calls)).toEqual([['pulumi', 'up', '--stack', 'staging', '--yes', '--skip-preview']]);
    const stopped = make({ primary: 'c-pg0', exited: ['c-pg2'] });
    await stopped.driver.startNode('pg-2');
    expect(changes(stopped.calls)).toEqual([['docker', 'start', 'c-pg2']]);
  });

  it('scales through pulumi config and pulumi up', async () => {
    const { driver, calls } = make();
    await driver.scale({ apps: 4, dbReplicas: 3 });
    expect(calls).toEqual([
      ['pulumi', 'config', 'set', '--stack', 'staging', 'appReplicas', '4'],
      ['pulumi', 'config', 'set', '--stack', 'staging', 'dbReplicas', '3'],
      ['pulumi', 'up', '--stack', 'staging', '--yes', '--skip-preview'],
    ]);
  });

  it('runs verification SQL on the primary through docker exec psql, rows as JSON', async () => {
    const { driver, calls } = make();
    const rows = await driver.primaryQuery('SELECT id, title FROM posts WHERE id IN (1)');
    expect(rows).toEqual([{ id: 1, title: 'a' }]);
    expect(calls.at(-1)).toEqual(['docker', 'exec', '-u', 'postgres', 'c-pg0', 'psql', '-d', 'aidiary', '-At', '-v', 'ON_ERROR_STOP=1', '-c',
      "SELECT coalesce(json_agg(t), '[]'::json) FROM (SELECT id, title FROM posts WHERE id IN (1)) t"]);
    expect(await driver.baseUrl()).toBe('http://127.0.0.1:8080');
  });
});

describe('KubernetesDriver', () => {
  const topology = parseTopology({ target: 'kubernetes', appReplicas: 3, dbReplicas: 2 });
  const pods = {
    items: [
      { metadata: { name: 'aidiary-app-7d9-abc', labels: { 'app.kubernetes.io/component': 'app' } }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
      { metadata: { name: 'aidiary-redis-sessions-0', labels: { 'app.kubernetes.io/component': 'redis-sessions' } }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] } },
    ],
  };
  const dbPods = {
    items: [
      { metadata: { name: 'aidiary-db-1', labels: { 'cnpg.io/instanceRole': 'primary' } }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
      { metadata: { name: 'aidiary-db-2', labels: { 'cnpg.io/instanceRole': 'replica' } }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
    ],
  };
  const respond: Responder = (_cmd, args) => {
    if (args.includes('get') && args.includes('pods')) return JSON.stringify(args.some((a) => a.startsWith('cnpg.io/cluster=')) ? dbPods : pods);
    if (args.includes('exec')) return '[{"name":"aidiary-db-2"}]';
    return '';
  };
  const make = () => {
    const r = recorder(respond);
    return { ...r, driver: new KubernetesDriver({ topology, namespace: 'blog', lbUrl: 'https://blog.example', admin, exec: r.exec }) };
  };

  it('kills a pod with a forced delete and stops one with a graceful delete', async () => {
    const { driver, calls } = make();
    await driver.killNode('aidiary-app-7d9-abc');
    await driver.stopNode('aidiary-app-7d9-abc');
    expect(calls).toEqual([
      ['kubectl', '-n', 'blog', 'delete', 'pod', 'aidiary-app-7d9-abc', '--grace-period=0', '--force', '--wait=false'],
      ['kubectl', '-n', 'blog', 'delete', 'pod', 'aidiary-app-7d9-abc', '--wait=true'],
    ]);
  });

  it('promotes with the CloudNativePG plugin, naming the cluster and the instance', async () => {
    const { driver, calls } = make();
    const r = await driver.failover('aidiary-db-2');
    expect(r.promoted).toBe('aidiary-db-2');
    expect(calls).toEqual([['kubectl', 'cnpg', 'promote', 'aidiary-db', 'aidiary-db-2', '-n', 'blog']]);
  });

  it('switchover without a target promotes the first healthy replica', async () => {
    const { driver, calls } = make();
    expect((await driver.switchover()).promoted).toBe('aidiary-db-2');
    expect(calls.at(-1)).toEqual(['kubectl', 'cnpg', 'promote', 'aidiary-db', 'aidiary-db-2', '-n', 'blog']);
  });

  it('scales the app Deployment with kubectl scale and the Cluster by spec.instances', async () => {
    const { driver, calls } = make();
    await driver.scale({ apps: 5, dbReplicas: 3 });
    expect(calls).toEqual([
      ['kubectl', '-n', 'blog', 'scale', 'deployment/aidiary-app', '--replicas=5'],
      ['kubectl', '-n', 'blog', 'patch', 'cluster', 'aidiary-db', '--type', 'merge', '-p', '{"spec":{"instances":4}}'],
    ]);
  });

  it('lists app, Redis and CloudNativePG pods with roles and readiness', async () => {
    const { driver } = make();
    expect(await driver.listNodes()).toEqual([
      { name: 'aidiary-app-7d9-abc', kind: 'app', healthy: true },
      { name: 'aidiary-db-1', kind: 'postgres', role: 'primary', healthy: true },
      { name: 'aidiary-db-2', kind: 'postgres', role: 'replica', healthy: true },
      { name: 'aidiary-redis-sessions-0', kind: 'redis', role: 'sessions', healthy: false },
    ]);
  });

  it('queries the primary pod through kubectl exec psql and reports streaming replicas', async () => {
    const { driver, calls } = make();
    expect(await driver.replicationState()).toEqual({ expected: ['aidiary-db-2'], streaming: ['aidiary-db-2'] });
    expect(calls.at(-1)!.slice(0, 8)).toEqual(['kubectl', '-n', 'blog', 'exec', 'aidiary-db-1', '-c', 'postgres', '--']);
  });

  it('refuses a partition it cannot make', async () => {
    const { driver } = make();
    await expect(driver.pause('aidiary-db-1')).rejects.toThrow(/NetworkPolicy/);
  });

  it('passes --context when given', async () => {
    const r = recorder(respond);
    const driver = new KubernetesDriver({ topology, namespace: 'blog', lbUrl: 'x', admin, exec: r.exec, context: 'prod' });
    await driver.scale({ apps: 2 });
    expect(r.calls).toEqual([['kubectl', '--context', 'prod', '-n', 'blog', 'scale', 'deployment/aidiary-app', '--replicas=2']]);
  });
});
