import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extname, relative, sep } from 'node:path';
import { fromRoot } from '../project-root';
import { filesUnder } from '../files-under';

// The theme's and the admin's static files (app/static/) under build-hashed names:
// `style.css` is linked as `/static/style.<8 hex of its SHA-256>.css`, which browsers, nginx and
// CDNs may keep for a year (`immutable`): a release that changes the file changes the name, so
// returning browsers fetch the new one. The plain names stay reachable, cached 5 minutes only.
// Hashes are computed once, when the process first needs them (at start: registerStaticRoutes).
// nginx serves the same names from disk (nginx/render.ts, the hashed-name location).

export const HASH_HEX_LENGTH = 8;
/** A hashed name: `<base>.<8 hex>.<ext>` (the extension is required: files without one keep their name only). */
export const hashedNamePattern = /^(.+)\.([0-9a-f]{8})(\.[A-Za-z0-9]+)$/;

/** For a content-hashed name: a year, never revalidated. */
export const immutableCacheControl = 'public, max-age=31536000, immutable';
/** For a plain name, whose content changes with a release. */
export const plainNameCacheControl = 'public, max-age=300';
export const plainNameMaxAgeSeconds = 300;

const types: Record<string, string> = {
  '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8', '.woff2': 'font/woff2',
};

export interface StaticAsset {
  /** Path under /static/, e.g. `admin/editor.js`. */
  name: string;
  /** The content-hashed name, e.g. `admin/editor.1a2b3c4d.js`; null for a file without an extension. */
  hashedName: string | null;
  body: Buffer;
  type: string;
  etag: string;
}

/** `admin/editor.js` + content → `admin/editor.<hash>.js` (null without an extension). */
export function hashedAssetName(name: string, body: Buffer): string | null {
  const ext = extname(name);
  if (!/^\.[A-Za-z0-9]+$/.test(ext)) return null;
  const hash = createHash('sha256').update(body).digest('hex').slice(0, HASH_HEX_LENGTH);
  return `${name.slice(0, -ext.length)}.${hash}${ext}`;
}

export class StaticAssets {
  private readonly byName = new Map<string, StaticAsset>();
  private readonly byHashedName = new Map<string, StaticAsset>();

  constructor(assets: StaticAsset[]) {
    for (const a of assets) {
      this.byName.set(a.name, a);
      if (a.hashedName) this.byHashedName.set(a.hashedName, a);
    }
  }

  /**
   * What `/static/<requested>` is: the file under its hashed name, under its plain name, a hashed
   * name of a known file with another hash (another release's link: the caller redirects to the
   * current name rather than serve this content under a name it does not hash to), or nothing.
   */
  lookup(requested: string): { kind: 'hashed' | 'plain'; asset: StaticAsset } | { kind: 'other-hash'; asset: StaticAsset } | null {
    const hashed = this.byHashedName.get(requested);
    if (hashed) return { kind: 'hashed', asset: hashed };
    const plain = this.byName.get(requested);
    if (plain) return { kind: 'plain', asset: plain };
    const m = hashedNamePattern.exec(requested);
    const sibling = m ? this.byName.get(`${m[1]}${m[3]}`) : undefined;
    return sibling?.hashedName ? { kind: 'other-hash', asset: sibling } : null;
  }

  /** The URL a view links: `/static/<hashed name>`. Throws for a file that does not exist (a typo in a template). */
  url(name: string): string {
    const asset = this.byName.get(name);
    if (!asset) throw new Error(`static asset "${name}" does not exist under app/static/`);
    return `/static/${asset.hashedName ?? asset.name}`;
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }
}

/** Reads every file under `dir` into memory (a request can only name one of them: no path is built from a URL). */
export function loadStaticAssets(dir: string): StaticAssets {
  return new StaticAssets(filesUnder(dir).map((file) => {
    const body = readFileSync(file);
    const name = relative(dir, file).split(sep).join('/');
    return {
      name, body, hashedName: hashedAssetName(name, body),
      type: types[extname(file)] ?? 'application/octet-stream',
      etag: `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"`,
    };
  }));
}

let shipped: StaticAssets | null = null;

/** The files of app/static/, loaded once per process. */
export function staticAssets(): StaticAssets {
  shipped ??= loadStaticAssets(fromRoot('app', 'static'));
  return shipped;
}

/** The view helper (`it.asset('style.css')` in the templates): the hashed URL of a shipped file. */
export const assetUrl = (name: string): string => staticAssets().url(name);
