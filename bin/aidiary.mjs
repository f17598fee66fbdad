#!/usr/bin/env node
// The `aidiary` command. Plain JS so that it runs on a fresh clone: installs npm packages when
// node_modules is missing, rebuilds dist/ when the TypeScript is newer, then runs the CLI.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'node_modules', 'fastify'))) {
  console.error('aidiary: installing npm packages (npm ci)…');
  execFileSync('npm', [existsSync(join(root, 'package-lock.json')) ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}
const { isStale, buildAll } = await import(pathToFileURL(join(root, 'scripts/build.mjs')).href);
if (isStale()) await buildAll();
const { main } = await import(pathToFileURL(join(root, 'dist/cli.mjs')).href);
process.exitCode = await main(process.argv.slice(2));
