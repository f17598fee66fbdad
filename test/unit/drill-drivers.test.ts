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
  const ids: Record<string, string> = { 'app-1': 'c-app1', 'pg-0': 'c-pg0', 'pg-1': 'c-pg1', 'pg-2': 'c-pg2', 'redis-sessions': 'c-rs' };
  const psLines = [
    { ID: 'c-app1', Labels: 'aidiary.stack=aidiary,aidiary.role=app,aidiary.instance=app-1', State: 'running', Status: 'Up 2 minutes (healthy)' },
    { ID: 'c-pg0', Labels: 'aidiary.stack=aidiary,aidiary.role=postgres,aidiary.instance=pg-0', State: 'running', Status: 'Up 2 minutes' },
    { ID: 'c-pg1', Labels: 'aidiary.instance=pg-1,aidiary.role=postgres,aidiary.stack=aidiary', State: 'running', Status: 'Up 2 minutes' },
    { ID: 'c-pg2', Labels: 'aidiary.instance=pg-2,aidiary.role=postgres,aidiary.stack=aidiary', State: 'exited', Status: 'Exited (137)' },
    { ID: 'c-rs', Labels: 'aidiary.instance=redis-sessions,aidiary.role=redis,aidiary.stack=aidiary', State: 'running', Status: 'Up (unhealthy)' },
  ];
  const respond: Responder = (cmd, args) => {
    if (cmd !== 'docker') return '';
    if (args[0] === 'ps' && args.includes('{{.ID}}')) {
      const inst = args.find((a) => a.startsWith('label=aidiary.instance='))!.split('=')[2];
      return `${ids[inst] ?? ''}\n`;
    }
    if (args[0] === 'ps') return psLines.map((l) => JSON.stringify(l)).join('\n');
    if (args[0] === 'exec') {
      const sql = args.at(-1)!;
      if (sql === 'SELECT pg_is_in_recovery()') return args[3] === 'c-pg0' ? 'f\n' : 't\n';
      if (sql.includes('pg_last_wal_replay_lsn')) return args[3] === 'c-pg1' ? '5000\n' : '';
      if (sql === 'SHOW primary_conninfo') return "host=pg-0 port=5432 user=replicator application_name=pg_2\n";
      if (sql.includes('json_agg')) return '[{"id":1,"title":"a"}]\n';
    }
    return '';
  };
  const make = () => {
    const r = recorder(respond);
    return { ...r, driver: new DockerDriver({ stack: 'aidiary', pulumiStack: 'staging', lbUrl: 'http://127.0.0.1:8080/', database: 'aidiary', admin, exec: r.exec }) };
  };

  it('finds containers by label and kills them with docker kill', async () => {
    const { driver, calls } = make();
    await driver.killNode('app-1');
    expect(calls).toEqual([
      ['docker', 'ps', '-a', '--filter', 'label=aidiary.stack=aidiary', '--filter', 'label=aidiary.instance=app-1', '--format', '{{.ID}}'],
      ['docker', 'kill', '--signal', 'SIGKILL', 'c-app1'],
    ]);
  });

  it('stops, starts, pauses and unpauses with the documented commands', async () => {
    const { driver, calls } = make();
    await driver.stopNode('app-1');
    await driver.startNode('app-1');
    await driver.pause('pg-0');
    await driver.resume('pg-0');
    expect(calls.filter((c) => c[1] !== 'ps')).toEqual([
      ['docker', 'stop', '--time', '30', 'c-app1'],
      ['docker', 'start', 'c-app1'],
      ['docker', 'pause', 'c-pg0'],
      ['docker', 'unpause', 'c-pg0'],
    ]);
  });

  it('lists nodes with live PostgreSQL roles and container health', async () => {
    const { driver } = make();
    const nodes = await driver.listNodes();
    expect(nodes).toEqual([
      { name: 'app-1', kind: 'app', healthy: true },
      { name: 'pg-0', kind: 'postgres', role: 'primary', healthy: true },
      { name: 'pg-1', kind: 'postgres', role: 'replica', healthy: true },
      { name: 'pg-2', kind: 'postgres', healthy: false },
      { name: 'redis-sessions', kind: 'redis', role: 'sessions', healthy: false },
    ]);
  });

  it('promotes the most advanced replica with pg_promote() and re-points the others', async () => {
    const { driver, calls } = make();
    const r = await driver.failover();
    expect(r.promoted).toBe('pg-1');
    const execs = calls.filter((c) => c[1] === 'exec').map((c) => [c[4], c.at(-1)]);
    expect(execs).toContainEqual(['c-pg1', 'SELECT pg_promote(true, 60)']);
    // pg-2 is down (exited): skipped; pg-0 is the old primary and also gets re-pointed only if it answers.
    expect(execs.filter(([, sql]) => sql!.startsWith('ALTER SYSTEM SET primary_conninfo'))).toEqual([
      ['c-pg0', "ALTER SYSTEM SET primary_conninfo = 'host=pg-1 port=5432 user=replicator application_name=pg_2'"],
    ]);
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
