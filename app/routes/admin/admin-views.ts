import { readdirSync, readFileSync } from 'node:fs';
import { Eta } from 'eta';
import { fromRoot } from '../../project-root';

// The admin pages' own eta instance: every app/views/admin/*.eta compiled once at start (LuaAIDiary
// recompiled admin templates on every request). Autoescape on; `<%~` only for sanitized HTML.

export interface AdminViews {
  render(name: string, data: object): string;
}

export function loadAdminViews(): AdminViews {
  const dir = fromRoot('app', 'views', 'admin');
  const eta = new Eta({ autoEscape: true, autoTrim: [false, 'nl'], cache: true, useWith: false });
  const names = new Set<string>();
  for (const file of readdirSync(dir)) {
    if (!file.endsWith('.eta')) continue;
    const name = file.slice(0, -'.eta'.length);
    eta.loadTemplate(`@${name}`, eta.compile(readFileSync(`${dir}/${file}`, 'utf8')));
    names.add(name);
  }
  return {
    render(name, data) {
      if (!names.has(name)) throw new Error(`admin view "${name}" does not exist`);
      return eta.render(`@${name}`, data);
    },
  };
}
