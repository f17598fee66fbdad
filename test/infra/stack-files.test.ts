import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { configDefaults, secretConfigKeys } from '../../infra/stack-config';
import { appCommand } from '../../infra/topology/app-runtime';
import { runProgram } from './pulumi-harness';
import { runProd, runStaging } from './stack-fixtures';

// The project files an operator reads: Pulumi.yaml documents every key with the program's own
// default, the stack files pick their target, the Dockerfile builds non-root images, and bad
// config fails before any resource exists, naming the key.

const root = join(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');

/** The `config:` block of Pulumi.yaml as { key: { type, default, description } } (its flat format). */
function projectConfig(): Record<string, Record<string, string>> {
  const lines = read('Pulumi.yaml').split('\n');
  const out: Record<string, Record<string, string>> = {};
  let inConfig = false;
  let key = '';
  for (const line of lines) {
    if (/^config:\s*$/.test(line)) { inConfig = true; continue; }
    if (!inConfig || line.startsWith('#') || !line.trim()) continue;
    if (/^\S/.test(line)) break;
    const k = /^ {2}(\w+):\s*$/.exec(line);
    if (k) { key = k[1]; out[key] = {}; continue; }
    const f = /^ {4}(\w+):\s*(.*)$/.exec(line);
    if (f && key) out[key][f[1]] = f[2].replace(/^"(.*)"$/, '$1');
  }
  return out;
}

describe('Pulumi project and stack files', () => {
  test('Pulumi.yaml documents every key with the program\'s default', () => {
    const declared = projectConfig();
    expect(Object.keys(declared).sort()).toEqual(['target', ...Object.keys(configDefaults)].sort());
    for (const [key, value] of Object.entries(configDefaults)) {
      expect(declared[key].default, key).toBe(String(value));
      expect(declared[key].type, key).toBe(typeof value === 'number' ? 'integer' : 'string');
      expect(declared[key].description, key).toBeTruthy();
    }
    expect(declared.target.default).toBeUndefined();
    for (const secret of secretConfigKeys) {
      expect(read('Pulumi.yaml'), secret).toMatch(new RegExp(`^#\\s+${secret}\\s`, 'm'));
      expect(declared[secret], `${secret} must not get a plain default`).toBeUndefined();
    }
  });

  test('runtime: nodejs with the ESM TypeScript entry of package.json', () => {
    const pulumiYaml = read('Pulumi.yaml');
    expect(pulumiYaml).toMatch(/^runtime:\n {2}name: nodejs$/m);
    expect(pulumiYaml).toContain('nodeargs: --import=tsx');
    expect(JSON.parse(read('package.json')).main).toBe('infra/index.ts');
  });

  test('staging targets Docker, prod Kubernetes; no secret in either file', () => {
    const staging = read('Pulumi.staging.yaml');
    const prod = read('Pulumi.prod.yaml');
    expect(staging).toMatch(/^ {2}aidiary:target: docker$/m);
    expect(prod).toMatch(/^ {2}aidiary:target: kubernetes$/m);
    for (const file of [staging, prod]) {
      for (const secret of secretConfigKeys) expect(file).not.toMatch(new RegExp(`^ {2}aidiary:${secret}:`, 'm'));
      expect(file).toMatch(/^ {2}aidiary:appReplicas: \d+$/m);
      expect(file).toMatch(/^ {2}aidiary:dbReplicas: \d+$/m);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  test('multi-stage; the app runs as non-root from the esbuild bundle with production deps only', () => {
    expect(dockerfile.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(3);
    expect(dockerfile).toMatch(/RUN npm ci --omit=dev/);
    expect(dockerfile).toContain('RUN node scripts/build.mjs');
    const app = dockerfile.slice(dockerfile.indexOf('AS app'));
    expect(app).toMatch(/^USER node$/m);
    // The Docker and Kubernetes stacks run the image's CMD: the same flags as the local runner.
    const cmd = /^CMD (\[.*\])$/m.exec(app);
    expect(cmd, 'the app stage has an exec-form CMD').not.toBeNull();
    expect(JSON.parse(cmd![1])).toEqual(appCommand);
    expect(app).toContain('COPY app ./app');
  });

  test('the edge image is nginx >= 1.27.3 (resolve in upstreams) and unprivileged', () => {
    const [, major, minor, patch] = /NGINX_IMAGE=nginx:(\d+)\.(\d+)(?:\.(\d+))?/.exec(dockerfile)!;
    const version = [Number(major), Number(minor), Number(patch ?? 99)];
    expect(version[0] > 1 || version[1] > 27 || (version[1] === 27 && version[2] >= 3)).toBe(true);
    const edge = dockerfile.slice(dockerfile.indexOf('AS edge'), dockerfile.indexOf('AS app'));
    expect(edge).toMatch(/^USER 101$/m);
  });

  test('images run a supported Node.js LTS line (not 20, end of life April 2026) and a pinned PostgreSQL 16 minor', () => {
    const [, major] = /^ARG NODE_IMAGE=node:(\d+)-/m.exec(dockerfile)!;
    // Even majors up to 26 are the LTS lines; Node.js 24 was the oldest one still supported in late 2026.
    expect(Number(major)).toBeGreaterThanOrEqual(24);
    expect(Number(major) % 2).toBe(0);
    expect(read('infra/docker/images.ts')).toMatch(/postgresImage = 'postgres:16\.\d+-\w+'/);
  });

  test('.dockerignore keeps local state, dependencies and stack files out of the context', () => {
    const ignore = read('.dockerignore').split('\n');
    for (const entry of ['node_modules', 'dist', '.aidiary', '.git', 'Pulumi.*.yaml']) expect(ignore).toContain(entry);
  });
});

describe('postgres init scripts', () => {
  const dir = join(root, 'infra/docker/postgres-init');
  test.each(readdirSync(dir))('%s is valid bash and executable', (file) => {
    const r = spawnSync('bash', ['-n', join(dir, file)], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(statSync(join(dir, file)).mode & 0o111).not.toBe(0);
  });

  test('no password reaches a command line or postgresql.auto.conf', () => {
    const clone = readFileSync(join(dir, 'clone-replica.sh'), 'utf8');
    expect(clone).not.toMatch(/pg_basebackup[^\n]*\s-R\b/);
    expect(clone).toContain('passfile=');
    const roles = readFileSync(join(dir, '10-aidiary-roles.sh'), 'utf8');
    expect(roles).toMatch(/\\set app_password `cat /);
    expect(roles).not.toMatch(/--set \w*password/);
  });
});

describe('config errors fail fast, naming the key', () => {
  test('appReplicas 0', async () => {
    await expect(runStaging(0, 1)).rejects.toThrow(/appReplicas/);
  });
  test('prod without appImage', async () => {
    await expect(runProd(1, 1, { appImage: '' })).rejects.toThrow(/appImage: required on target kubernetes; run `pulumi config set appImage/);
  });
  test('prod without siteUrl; a siteUrl with a path', async () => {
    await expect(runProd(1, 1, { siteUrl: '' })).rejects.toThrow(/siteUrl: required on target kubernetes .*run `pulumi config set siteUrl https:\/\/<your host>`/);
    await expect(runProd(1, 1, { siteUrl: 'https://blog.example.com/blog' })).rejects.toThrow(/siteUrl: must be scheme:\/\/host\[:port\]/);
    await expect(runStaging(1, 1, { trustedProxies: '10.0.0.0/8,cdn' })).rejects.toThrow(/trustedProxies\.1: must be an IP address or CIDR/);
  });
  test('unknown target', async () => {
    await expect(runProgram('qa', { target: 'nomad' })).rejects.toThrow(/target: expected "docker" or "kubernetes"/);
  });
});
