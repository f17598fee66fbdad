#!/usr/bin/env node
// The `aidiary` command. Plain JS so that it runs on a fresh clone: installs npm packages when
// node_modules is missing, rebuilds dist/ when the TypeScript is newer, then runs the CLI.
// In the app image (no scripts/, no TypeScript sources) it runs the shipped dist/cli.mjs as is.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'node_modules', 'fastify'))) {
  console.error('aidiary: installing npm packages (npm ci)…');
  execFileSync('npm', [existsSync(join(root, 'package-lock.json')) ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}
const buildScript = join(root, 'scripts/build.mjs');
if (existsSync(buildScript)) {
  const { isStale, buildAll } = await import(pathToFileURL(buildScript).href);
  if (isStale()) await buildAll();
}
// dist/cli.mjs runs the command given in process.argv when imported and sets process.exitCode.
await import(pathToFileURL(join(root, 'dist/cli.mjs')).href);
