import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Templates, static files and migrations are read from the source tree at run time. The code runs
// either from app/… (tsx, vitest) or bundled into dist/app.mjs, so walk up from this module to
// the directory holding package.json instead of assuming a fixed depth.
let cached: string | null = null;

export function projectRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'app'))) return (cached = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`projectRoot: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export function fromRoot(...parts: string[]): string {
  return join(projectRoot(), ...parts);
}
