import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { appNodeArgs } from '../../infra/local/app-processes';
import { appCommand, appEntryFile, appNodeFlags } from '../../infra/topology/app-runtime';

// The Node.js flags every app starts with (infra/topology/app-runtime.ts): the local runner and
// the image's CMD use the same list (the Dockerfile side: test/infra/stack-files.test.ts), and the
// Node.js running here accepts them (a flag V8 dropped would stop every app at start).

describe('app runtime flags', () => {
  test('the local runner starts the bundle with the same flags as the image command', () => {
    expect(appCommand[0]).toBe('node');
    expect(appCommand.at(-1)).toBe(appEntryFile);
    expect(appNodeArgs('/srv/aidiary/dist/app.mjs')).toEqual([...appCommand.slice(1, -1), '/srv/aidiary/dist/app.mjs']);
    expect(appNodeFlags).not.toContain('--enable-source-maps');
  });

  test('this Node.js accepts every flag', () => {
    const run = spawnSync(process.execPath, [...appNodeFlags, '-e', 'process.exit(0)'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});
