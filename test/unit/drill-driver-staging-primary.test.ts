import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { stackTopologyName } from '../../infra/drills/drill-target';
import { synchronousStandbyNames, parseTopology } from '../../infra/topology';
import { byRole, envFromList, labelsOf, runStaging, tempDir } from '../infra/stack-fixtures';

// After a Docker failover the drill driver records the promoted node in the stack
// (`pulumi config set primaryIndex K`, infra/drills/docker-driver.ts). These tests check that the
// staging stack honours it (Pulumi program under mocks), and that the PostgreSQL entrypoint
// re-clones a data dir that was a primary's when its container comes back as a replica, so the
// next `pulumi up` never starts two primaries.

const nodeCommand = (run: Awaited<ReturnType<typeof runStaging>>, name: string) => {
  const c = [...byRole(run, 'postgres-primary'), ...byRole(run, 'postgres-replica')].find((x) => labelsOf(x)['aidiary.instance'] === name)!;
  return { role: c.inputs.command[0] as string, env: envFromList(c.inputs.envs), label: labelsOf(c)['aidiary.role'], deps: c.dependencies };
};

describe('staging stack primaryIndex', () => {
  test('pg-0 is the primary by default; the drill targets the stack by the label the program gives', async () => {
    const run = await runStaging(1, 2);
    expect(nodeCommand(run, 'pg-0')).toMatchObject({ role: 'primary', label: 'postgres-primary' });
    expect(nodeCommand(run, 'pg-0').env.AIDIARY_PRIMARY_HOST).toBeUndefined();
    expect(nodeCommand(run, 'pg-1').env.AIDIARY_PRIMARY_HOST).toBe('pg-0');
    expect(labelsOf(byRole(run, 'app')[0])['aidiary.stack']).toBe(stackTopologyName('staging'));
  });

  test('primaryIndex 1: pg-1 runs as the primary, pg-0 and pg-2 as its replicas, quorum and slots over its peers', async () => {
    const run = await runStaging(1, 2, { primaryIndex: '1' });
    expect(nodeCommand(run, 'pg-1')).toMatchObject({ role: 'primary', label: 'postgres-primary' });
    expect(nodeCommand(run, 'pg-1').env.AIDIARY_PRIMARY_HOST).toBeUndefined();
    for (const name of ['pg-0', 'pg-2']) {
      const n = nodeCommand(run, name);
      expect(n).toMatchObject({ role: 'replica', label: 'postgres-replica' });
      expect(n.env.AIDIARY_PRIMARY_HOST).toBe('pg-1');
      expect(n.env.AIDIARY_SLOT_NAME).toBe(name.replace('-', '_'));
      expect(n.deps.some((d) => d.endsWith('::database-pg-1'))).toBe(true);
    }
    const sync = byRole(run, 'postgres-sync-config')[0];
    expect(envFromList(sync.inputs.envs).AIDIARY_PRIMARY_HOST).toBe('pg-1');
    const t = parseTopology({ target: 'docker', host: '0.0.0.0', appReplicas: 1, dbReplicas: 2 });
    expect(synchronousStandbyNames(t, 'pg-1')).toBe('ANY 1 (pg_0, pg_2)');
    expect(sync.inputs.entrypoints[2]).toContain("synchronous_standby_names = 'ANY 1 (pg_0, pg_2)'");
  });

  test('a primaryIndex past the nodes is refused, naming the fix', async () => {
    await expect(runStaging(1, 1, { primaryIndex: '2' })).rejects.toThrow(/primaryIndex: expected the index K of the primary pg-K, 0-1 \(dbReplicas\), got 2; run `pulumi config set primaryIndex K`/);
  });
});

describe('PostgreSQL entrypoint (infra/docker/postgres-init/entrypoint.sh)', () => {
  // install, gosu and docker-entrypoint.sh replaced by recorders on PATH: what the script decides
  // to run, without root or a container.
  function runEntrypoint(role: 'primary' | 'replica', files: string[]): string[] {
    const dir = tempDir('aidiary-entrypoint-');
    const bin = join(dir, 'bin');
    const pgdata = join(dir, 'pgdata');
    const log = join(dir, 'calls');
    mkdirSync(bin);
    mkdirSync(pgdata);
    for (const f of files) writeFileSync(join(pgdata, f), f === 'PG_VERSION' ? '16\n' : '');
    for (const tool of ['install', 'gosu', 'docker-entrypoint.sh']) {
      writeFileSync(join(bin, tool), `#!/bin/bash\necho "${tool} $*" >> "${log}"\n`);
      chmodSync(join(bin, tool), 0o755);
    }
    writeFileSync(log, '');
    const script = join(import.meta.dirname, '../../infra/docker/postgres-init/entrypoint.sh');
    const r = spawnSync('bash', [script, role, '-c', 'wal_level=replica'], {
      env: { PATH: `${bin}:/usr/bin:/bin`, PGDATA: pgdata, AIDIARY_PRIMARY_HOST: 'pg-1' }, encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    return readFileSync(log, 'utf8').trim().split('\n').filter((l) => !l.startsWith('install -d -m 0700 -o postgres -g postgres /run'));
  }

  const clone = 'gosu postgres /usr/local/bin/aidiary-clone-replica.sh';
  const serve = 'docker-entrypoint.sh postgres -c wal_level=replica';

  test('a replica with an empty data dir clones the primary first', () => {
    expect(runEntrypoint('replica', []).filter((l) => !l.startsWith('install'))).toEqual([clone, serve]);
  });

  test('a replica whose data dir is a standby\'s starts as it is', () => {
    expect(runEntrypoint('replica', ['PG_VERSION', 'standby.signal'])).toEqual([serve]);
  });

  test('a replica whose data dir was a primary\'s (the stack\'s primary moved) is cloned afresh, never started as a primary', () => {
    expect(runEntrypoint('replica', ['PG_VERSION'])).toEqual([clone, serve]);
  });

  test('the primary starts on its data as it is', () => {
    expect(runEntrypoint('primary', ['PG_VERSION'])).toEqual([serve]);
  });
});
