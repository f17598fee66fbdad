import { readFileSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { Eta } from 'eta';
import { fromRoot } from '../project-root';
import { filesUnder } from '../files-under';

// A theme is a folder of eta templates (app/views/themes/<name>/**/*.eta), every one compiled at
// start and kept in memory: a render never touches the file system or the compiler. Templates
// include each other by name (`include('@parts/header', it)`). Output is HTML-escaped by default
// (`<%= %>`); `<%~ %>` is used only for HTML this code already made safe (sanitized Markdown).

export class Theme {
  private readonly eta: Eta;
  private readonly names = new Set<string>();

  constructor(readonly name: string, dir: string) {
    this.eta = new Eta({ autoEscape: true, autoTrim: [false, 'nl'], cache: true, useWith: false });
    for (const file of filesUnder(dir)) {
      if (!file.endsWith('.eta')) continue;
      const templateName = relative(dir, file).slice(0, -'.eta'.length).split(sep).join('/');
      this.eta.loadTemplate(`@${templateName}`, this.eta.compile(readFileSync(file, 'utf8')));
      this.names.add(templateName);
    }
    if (!this.names.has('index')) throw new Error(`theme "${name}" in ${dir} has no index.eta (every theme needs one)`);
  }

  has(template: string): boolean {
    return this.names.has(template);
  }

  /** WordPress-style fallback: the first candidate the theme has (`index` always exists). */
  resolve(candidates: string[]): string {
    return candidates.find((c) => this.names.has(c)) ?? 'index';
  }

  render(candidates: string[], data: object): string {
    return this.eta.render(`@${this.resolve(candidates)}`, data);
  }

  templates(): string[] {
    return [...this.names].sort();
  }
}

export function loadTheme(name = 'default'): Theme {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`theme name "${name}" must be lower-case letters, digits and hyphens`);
  return new Theme(name, fromRoot('app', 'views', 'themes', name));
}

/** Candidate lists, most specific first (template names are looked up, never used as paths). */
export const templateCandidates = {
  home: () => ['front-page', 'home', 'index'],
  single: (slug: string) => [`single-${slug}`, 'single', 'singular', 'index'],
  category: (slug: string) => [`category-${slug}`, 'category', 'archive', 'index'],
  tag: (slug: string) => [`tag-${slug}`, 'tag', 'archive', 'index'],
  author: (username: string) => [`author-${username}`, 'author', 'archive', 'index'],
  date: () => ['date', 'archive', 'index'],
  search: () => ['search', 'index'],
  notFound: () => ['404', 'index'],
  error: () => ['error', 'index'],
};
