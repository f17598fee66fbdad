import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { projectRoot } from '../../app/project-root';

// The app image ships dist/, app/, bin/ and production node_modules only (Dockerfile, final
// stage). A static import of a devDependency in a bundle would crash `node dist/cli.mjs migrate` or
// `node dist/app.mjs` there before any code runs, so each bundle's static imports must resolve to
// Node built-ins or `dependencies` (the global setup builds dist/ before the suite).

const root = projectRoot();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

/** Package names of the bundle's static `import … from "x"` / `import "x"` statements. */
function staticImports(bundle: string): string[] {
  const text = readFileSync(join(root, 'dist', bundle), 'utf8');
  const specifiers = [...text.matchAll(/^import\s+(?:[^'";]*?\s+from\s+)?["']([^"']+)["'];?$/gm)].map((m) => m[1]);
  return [...new Set(specifiers.map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0])))];
}

describe('bundles import only what the app image holds', () => {
  for (const bundle of ['cli.mjs', 'app.mjs']) {
    it(`dist/${bundle}: every static import is a Node built-in or a production dependency`, () => {
      const imports = staticImports(bundle);
      expect(imports.length).toBeGreaterThan(3);
      const outside = imports.filter((name) => !name.startsWith('node:') && !builtinModules.includes(name) && !(name in pkg.dependencies));
      expect(outside).toEqual([]);
      expect(imports.filter((name) => name in pkg.devDependencies)).toEqual([]);
    });
  }
});
