import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../app/project-root';

// The Node.js versions package.json declares (Node 20 here and in CI, Node 26 in the images) and
// the install on Node 20 printing no engine warning for what runs in production. `npm ci --dry-run`
// resolves from package-lock.json and prints npm's EBADENGINE warnings without touching
// node_modules or the network (--prefer-offline).
//
// The dev-only @kubernetes-models packages (the schemas test/infra/kubernetes-schema.ts validates
// the prod stack's manifests against, CloudNativePG's Cluster included) declare node >= 22 in every
// release that has the CloudNativePG models (@kubernetes-models/cloudnative-pg 1.0.0 and 2.0.0 both
// need the >= 22 base/validate/apimachinery), so a development install on Node 20 still warns for
// them and only them. They run fine on Node 20 (the schema tests pass here); the images install
// with --omit=dev and never see them.

const root = projectRoot();
const run = promisify(execFile);
const devOnlyWarning = ['@kubernetes-models/apimachinery', '@kubernetes-models/base', '@kubernetes-models/cloudnative-pg', '@kubernetes-models/validate', 'kubernetes-models'];

async function engineWarnings(extra: string[]): Promise<string[]> {
  const { stdout, stderr } = await run('npm', ['ci', '--dry-run', '--prefer-offline', '--no-audit', '--no-fund', ...extra], { cwd: root, timeout: 60_000 });
  return [...`${stdout}\n${stderr}`.matchAll(/EBADENGINE\s+package: '(.+)@[^@']+'/g)].map((m) => m[1]).sort();
}

describe('Node.js versions', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string }; overrides: Record<string, string> };
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string; dev?: boolean; engines?: { node?: string } }> };

  it('package.json declares Node 20 (here, CI) and Node 26 (the images), and this Node is one of them', () => {
    expect(pkg.engines.node).toBe('^20.19.0 || >=26.0.0');
    const [major, minor] = process.versions.node.split('.').map(Number);
    expect(major === 20 ? minor >= 19 : major >= 26).toBe(true);
  });

  it('the production install (what the images run) prints no EBADENGINE', async () => {
    expect(await engineWarnings(['--omit=dev'])).toEqual([]);
  }, 60_000);

  it('the full install warns only for the dev-only Kubernetes schema models', async () => {
    const warned = await engineWarnings([]);
    expect(warned).toEqual(devOnlyWarning);
    for (const name of warned) expect(lock.packages[`node_modules/${name}`].dev, name).toBe(true);
  }, 60_000);

  it('cookie (from @fastify/cookie and light-my-request) is overridden to a 1.x that supports Node 20', () => {
    expect(pkg.overrides.cookie).toBe('~1.1.1');
    const cookies = Object.entries(lock.packages).filter(([path]) => path.endsWith('node_modules/cookie'));
    expect(cookies.length).toBeGreaterThan(0);
    for (const [path, meta] of cookies) {
      expect(meta.version, path).toMatch(/^1\.1\./);
      expect(meta.engines?.node, path).toBe('>=18');
    }
  });
});
