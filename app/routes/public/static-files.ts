import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { fromRoot } from '../../project-root';

// `/static/*` for direct access to an app (nginx serves /static/ itself). The few theme files are
// read into memory at start; a request can only name one of them (no path is ever built from the
// URL), so there is no traversal to defend against. Hand-rolled because @fastify/static is not a
// dependency and this needs ~30 lines.

const types: Record<string, string> = {
  '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8', '.woff2': 'font/woff2',
};

function walk(dir: string): string[] {
  let out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    out = statSync(p).isDirectory() ? out.concat(walk(p)) : out.concat(p);
  }
  return out;
}

export function registerStaticRoutes(app: FastifyInstance): void {
  const dir = fromRoot('app', 'static');
  const files = new Map<string, { body: Buffer; type: string; etag: string }>();
  for (const file of walk(dir)) {
    const body = readFileSync(file);
    files.set(relative(dir, file).split(sep).join('/'), {
      body, type: types[extname(file)] ?? 'application/octet-stream',
      etag: `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"`,
    });
  }
  app.get('/static/*', async (request, reply) => {
    const name = (request.params as { '*': string })['*'];
    const file = files.get(name);
    if (!file) {
      reply.code(404).type('text/plain; charset=utf-8');
      return 'Not found.\n';
    }
    reply.header('ETag', file.etag).header('Cache-Control', 'public, max-age=3600').type(file.type);
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
    return reply.send(file.body);
  });
}
