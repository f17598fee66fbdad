import { describe, expect, test } from 'vitest';
import type { ProgramRun } from './pulumi-harness';
import { envFromList, runProd, runStaging } from './stack-fixtures';

// A replica-count change must touch only what has to change. Two mock runs are compared by
// resource URN and inputs, the way `pulumi preview` would diff them.

interface Diff { added: string[]; removed: string[]; changed: Map<string, string[]> }

/** Leaf paths whose values differ between two input trees. */
function diffPaths(a: unknown, b: unknown, path = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => diffPaths((a as any)[k], (b as any)[k], path ? `${path}.${k}` : k));
  }
  return [path];
}

function diffRuns(before: ProgramRun, after: ProgramRun): Diff {
  const a = new Map(before.resources.map((r) => [r.urn, r]));
  const b = new Map(after.resources.map((r) => [r.urn, r]));
  const short = (urn: string) => urn.split('::').pop()!;
  const changed = new Map<string, string[]>();
  for (const [urn, r] of b) {
    const old = a.get(urn);
    if (!old) continue;
    // Inputs only: a changed dependency list (nginx waits for every app at creation) is recorded
    // in state without an update step, as in `pulumi preview`.
    const paths = diffPaths(old.raw, r.raw);
    if (paths.length) changed.set(short(urn), paths);
  }
  return {
    added: [...b.keys()].filter((u) => !a.has(u)).map(short).sort(),
    removed: [...a.keys()].filter((u) => !b.has(u)).map(short).sort(),
    changed,
  };
}

function changedEnvKeys(before: ProgramRun, after: ProgramRun, name: string): string[] {
  const envOf = (run: ProgramRun) => envFromList(run.resources.find((r) => r.name === name)!.inputs.envs);
  const x = envOf(before);
  const y = envOf(after);
  return [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((k) => x[k] !== y[k]);
}

describe('staging (Docker)', () => {
  test('3 → 4 apps adds exactly one app container; 4 → 3 removes it; nothing else changes', async () => {
    const three = await runStaging(3, 2);
    const four = await runStaging(4, 2);
    const up = diffRuns(three, four);
    expect(up.added).toEqual(['apps-app-3']);
    expect(up.removed).toEqual([]);
    expect([...up.changed.keys()]).toEqual([]);
    const down = diffRuns(four, three);
    expect(down.removed).toEqual(['apps-app-3']);
    expect(down.added).toEqual([]);
    expect([...down.changed.keys()]).toEqual([]);
  });

  test('8 → 9 apps adds only app-8 and 9 → 8 removes only it: the pool per app does not follow the count', async () => {
    const eight = await runStaging(8, 2);
    const nine = await runStaging(9, 2);
    const up = diffRuns(eight, nine);
    expect(up.added).toEqual(['apps-app-8']);
    expect(up.removed).toEqual([]);
    expect([...up.changed.keys()]).toEqual([]);
    const down = diffRuns(nine, eight);
    expect(down.removed).toEqual(['apps-app-8']);
    expect(down.added).toEqual([]);
    expect([...down.changed.keys()]).toEqual([]);
  });

  test('3 → 4 DB replicas adds a replica (container + volume), re-applies the sync config, and re-points the apps', async () => {
    const before = await runStaging(3, 3);
    const after = await runStaging(3, 4);
    const d = diffRuns(before, after);
    expect(d.added).toEqual(['database-pg-4', 'database-pg-4-data']);
    expect(d.removed).toEqual([]);
    // The primary, the other replicas, Redis, migrations and nginx stay as they are.
    expect([...d.changed.keys()].sort()).toEqual(['apps-app-0', 'apps-app-1', 'apps-app-2', 'database-sync-config']);
    expect(d.changed.get('database-sync-config')!.every((p) => p.startsWith('entrypoints'))).toBe(true);
    const script = after.resources.find((r) => r.name === 'database-sync-config')!.inputs.entrypoints.join(' ');
    expect(script).toContain("'ANY 1 (pg_1, pg_2, pg_3, pg_4)'");
    // Apps learn the new node (rolled create-before-delete); nothing else in their inputs moves.
    for (const app of ['apps-app-0', 'apps-app-1', 'apps-app-2']) {
      expect(d.changed.get(app)!.every((p) => p.startsWith('envs.'))).toBe(true);
      expect(changedEnvKeys(before, after, app)).toEqual(['AIDIARY_DB_NODES']);
    }
  });

  test('1 → 2 DB replicas switches async to quorum sync through the sync-config one-shot only', async () => {
    const before = await runStaging(1, 1);
    const after = await runStaging(1, 2);
    const d = diffRuns(before, after);
    expect(d.added).toEqual(['database-pg-2', 'database-pg-2-data']);
    expect([...d.changed.keys()].sort()).toEqual(['apps-app-0', 'database-sync-config']);
    const scriptOf = (run: ProgramRun) => run.resources.find((r) => r.name === 'database-sync-config')!.inputs.entrypoints.join(' ');
    expect(scriptOf(before)).toContain("synchronous_standby_names = ''");
    expect(scriptOf(after)).toContain("synchronous_standby_names = 'ANY 1 (pg_1, pg_2)'");
  });
});

describe('prod (Kubernetes)', () => {
  test('3 → 4 apps changes only the Deployment\'s spec.replicas', async () => {
    const d = diffRuns(await runProd(3, 2), await runProd(4, 2));
    expect(d.added).toEqual([]);
    expect(d.removed).toEqual([]);
    expect(Object.fromEntries(d.changed)).toEqual({ 'apps-deployment': ['spec.replicas'] });
  });

  test('8 → 9 and 9 → 8 apps change only the Deployment\'s spec.replicas', async () => {
    const eight = await runProd(8, 2);
    const nine = await runProd(9, 2);
    for (const d of [diffRuns(eight, nine), diffRuns(nine, eight)]) {
      expect(d.added).toEqual([]);
      expect(d.removed).toEqual([]);
      expect(Object.fromEntries(d.changed)).toEqual({ 'apps-deployment': ['spec.replicas'] });
    }
  });

  test('3 → 4 DB replicas changes only the Cluster\'s instances', async () => {
    const d = diffRuns(await runProd(3, 3), await runProd(3, 4));
    expect(d.added).toEqual([]);
    expect(d.removed).toEqual([]);
    expect(Object.fromEntries(d.changed)).toEqual({ 'database-cluster': ['spec.instances'] });
  });

  test('1 → 2 DB replicas adds an instance and turns on quorum sync, nothing else', async () => {
    const d = diffRuns(await runProd(3, 1), await runProd(3, 2));
    expect(d.added).toEqual([]);
    expect(Object.fromEntries(d.changed)).toEqual({
      'database-cluster': ['spec.instances', 'spec.postgresql.synchronous'],
    });
  });
});
