#!/usr/bin/env node
// Production build: esbuild bundles the app server and the CLI into plain-Node ESM under dist/.
// Dependencies stay external (node_modules); templates and static files are read from the source
// tree at run time. `tsx` is for development only.
import { build } from 'esbuild';
import { statSync, readdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const entryPoints = {
  app: join(root, 'app/main.ts'),
  // Self-running: `node dist/cli.mjs <command>` runs the CLI (the images have no bin/ build step).
  cli: join(root, 'infra/cli/entry.ts'),
};

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

export function isStale() {
  const outputs = Object.keys(entryPoints).map((k) => join(root, 'dist', `${k}.mjs`));
  if (!outputs.every((o) => existsSync(o))) return true;
  const built = Math.min(...outputs.map((o) => statSync(o).mtimeMs));
  const sources = Math.max(...['app', 'infra', 'nginx'].map((d) => newestMtime(join(root, d))));
  return sources > built;
}

export async function buildAll() {
  const available = Object.fromEntries(Object.entries(entryPoints).filter(([, p]) => existsSync(p)));
  await build({
    entryPoints: available,
    outdir: join(root, 'dist'),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await buildAll();
}
