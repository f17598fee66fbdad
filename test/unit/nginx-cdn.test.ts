import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderNginxConfig, type NginxRenderInput } from '../../nginx/render';
import { parseTopology } from '../../infra/topology';
import { cdnOnlyHeaders, cdnPageHeaders } from '../../app/cdn/cdn-headers';
import { hashedAssetName } from '../../app/cdn/static-assets';

// The edge under the real nginx, against a stub app answering what servePage answers for an
// anonymous page: the CDN-only headers are stripped unless a CDN is in front (passCdnHeaders),
// the micro-cache keeps its 1 s bound whatever TTL Surrogate-Control names, and /static/ serves
// the content-hashed names immutable and the plain names 5 minutes, as the app does.

const NGINX = '/usr/sbin/nginx';
const policy = { ttlSeconds: 86_400, staleIfErrorSeconds: 600 };
const css = Buffer.from('body { color: #123; }\n');
const cssHashed = hashedAssetName('style.css', css)!;

interface Edge { base: string; process: ChildProcess; prefix: string }
const edges: Edge[] = [];
let upstream: Server;
let renders = 0;

const listen = (server: Server) => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
const freePort = async () => { const s = createServer(); const port = await listen(s); await new Promise((r) => s.close(r)); return port; };

async function startEdge(extra: Partial<NginxRenderInput>): Promise<Edge> {
  const prefix = mkdtempSync(join(tmpdir(), 'aidiary-nginx-cdn-'));
  for (const d of ['logs', 'tmp', 'static', 'cache']) mkdirSync(join(prefix, d), { recursive: true });
  writeFileSync(join(prefix, 'static', 'style.css'), css);
  const listenPort = await freePort();
  const conf = renderNginxConfig({
    topology: parseTopology({}),
    upstream: { kind: 'static', servers: [{ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }] },
    listenPort,
    stubStatusPort: await freePort(),
    paths: {
      prefix, pidFile: join(prefix, 'nginx.pid'), errorLog: join(prefix, 'logs', 'error.log'), accessLog: join(prefix, 'logs', 'access.log'),
      cacheDir: join(prefix, 'cache'), tempDir: join(prefix, 'tmp'), staticRoot: join(prefix, 'static'),
    },
    // The temp prefix is root's: workers as root when the tests run as root, so the micro-cache can write.
    workerUser: process.getuid?.() === 0 ? 'root' : undefined,
    workerProcesses: 1,
    ...extra,
  });
  writeFileSync(join(prefix, 'nginx.conf'), conf);
  const child = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'logs', 'error.log')], { stdio: 'ignore' });
  const edge = { base: `http://127.0.0.1:${listenPort}`, process: child, prefix };
  edges.push(edge);
  for (let i = 0; ; i++) {
    if (await fetch(`${edge.base}/static/style.css`).then((r) => r.ok, () => false)) break;
    if (i > 200) throw new Error('nginx did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return edge;
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    renders++;
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.setHeader('Cache-Control', `public, max-age=0, s-maxage=1, stale-if-error=${policy.staleIfErrorSeconds}`);
    // `/no-accel`: without the app's X-Accel-Expires, to show nginx takes no TTL from Surrogate-Control.
    if (!req.url?.startsWith('/no-accel')) res.setHeader('X-Accel-Expires', `@${Math.floor(Date.now() / 1000)}`);
    for (const [name, value] of Object.entries(cdnPageHeaders(['site', 'list:home'], policy))) res.setHeader(name, value);
    res.end(`<p>render ${renders}</p>`);
  });
  await listen(upstream);
}, 20_000);

afterAll(async () => {
  for (const e of edges) {
    const exited = new Promise((r) => e.process.once('exit', r));
    e.process.kill('SIGQUIT');
    await exited;
    rmSync(e.prefix, { recursive: true, force: true });
  }
  await new Promise((r) => upstream.close(r));
});

describe('CDN-only headers: rendering', () => {
  const render = (extra: Partial<NginxRenderInput>) => renderNginxConfig({
    topology: parseTopology({}),
    upstream: { kind: 'static', servers: [{ host: '127.0.0.1', port: 3000 }] },
    listenPort: 18080, stubStatusPort: 18089,
    paths: { prefix: '/tmp/x/', pidFile: '/tmp/x/pid', errorLog: '/tmp/x/e.log', accessLog: '/tmp/x/a.log', cacheDir: '/tmp/x/c', tempDir: '/tmp/x/t', staticRoot: '/tmp/x/s' },
    ...extra,
  });

  it('every proxied location hides each CDN-only header unless passCdnHeaders is set', () => {
    const stripped = render({});
    const locations = stripped.match(/proxy_pass http:\/\/aidiary_app;/g)!.length;
    expect(locations).toBeGreaterThanOrEqual(5);
    for (const name of cdnOnlyHeaders) expect(stripped.split(`proxy_hide_header ${name};`).length - 1, name).toBe(locations);
    expect(render({ passCdnHeaders: false })).toBe(stripped);
    expect(render({ passCdnHeaders: true })).not.toContain('proxy_hide_header');
    // nginx reads X-Accel-Expires before Cache-Control; no CDN header is among those it can ignore or honour.
    expect(stripped).not.toMatch(/proxy_ignore_headers[^;]*(X-Accel-Expires|Surrogate)/);
  });
});

describe('CDN-only headers at the nginx edge', () => {
  it('stripped from what reaches clients by default; the client Cache-Control passes', async () => {
    const edge = await startEdge({});
    const res = await fetch(`${edge.base}/?strip`);
    expect(res.status).toBe(200);
    for (const name of cdnOnlyHeaders) expect(res.headers.get(name), name).toBeNull();
    expect(res.headers.get('cache-control')).toBe('public, max-age=0, s-maxage=1, stale-if-error=600');
    expect(res.headers.get('x-accel-expires')).toBeNull();
  }, 20_000);

  it('passed on when a CDN is in front (passCdnHeaders)', async () => {
    const edge = await startEdge({ passCdnHeaders: true });
    const res = await fetch(`${edge.base}/?pass`);
    expect(res.headers.get('surrogate-key')).toBe('site list:home');
    expect(res.headers.get('cache-tag')).toBe('site,list:home');
    for (const name of ['surrogate-control', 'cdn-cache-control', 'cloudflare-cdn-cache-control']) {
      expect(res.headers.get(name), name).toBe('max-age=86400, stale-if-error=600');
    }
    expect(res.headers.get('x-accel-expires')).toBeNull();
  }, 20_000);

  it('with a CDN in front, an expired copy is never served while it refreshes (a CDN fetch after a purge gets a fresh render)', async () => {
    const edge = await startEdge({ passCdnHeaders: true });
    const first = await (await fetch(`${edge.base}/refetch`)).text();
    await new Promise((r) => setTimeout(r, 2_200));
    const after = await fetch(`${edge.base}/refetch`);
    expect(after.headers.get('x-edge-cache')).not.toMatch(/^(HIT|STALE|UPDATING)$/);
    expect(await after.text()).not.toBe(first);
  }, 20_000);

  it('the micro-cache stays bounded to about a second, whatever Surrogate-Control says', async () => {
    const edge = edges[0] ?? await startEdge({});
    for (const path of ['/micro', '/no-accel']) {
      const first = await fetch(`${edge.base}${path}`);
      const firstBody = await first.text();
      const again = await fetch(`${edge.base}${path}`);
      // Cached (HIT) unless the second turned between the two requests (then a fresh MISS/EXPIRED).
      if (again.headers.get('x-edge-cache') === 'HIT') expect(await again.text()).toBe(firstBody);
      await new Promise((r) => setTimeout(r, 2_200));
      const later = await fetch(`${edge.base}${path}`);
      expect(later.headers.get('x-edge-cache'), path).not.toBe('HIT');
      // With proxy_cache_background_update a stale copy may answer once while the refresh runs.
      const body = later.headers.get('x-edge-cache') === 'STALE' || later.headers.get('x-edge-cache') === 'UPDATING'
        ? await (await new Promise((r) => setTimeout(r, 200)).then(() => fetch(`${edge.base}${path}`))).text()
        : await later.text();
      expect(body, path).not.toBe(firstBody);
    }
  }, 30_000);
});

describe('/static/ at the nginx edge', () => {
  it('serves the content-hashed name immutable for a year and the plain name 5 minutes', async () => {
    const edge = edges[0] ?? await startEdge({});
    const hashed = await fetch(`${edge.base}/static/${cssHashed}`);
    expect(hashed.status).toBe(200);
    expect(hashed.headers.get('content-type')).toBe('text/css');
    expect(hashed.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(Buffer.from(await hashed.arrayBuffer())).toEqual(css);
    const plain = await fetch(`${edge.base}/static/style.css`);
    expect(plain.status).toBe(200);
    expect(plain.headers.get('cache-control')).toBe('public, max-age=300');
    expect(Buffer.from(await plain.arrayBuffer())).toEqual(css);
    for (const path of ['/static/missing.0123abcd.css', '/static/missing.css']) {
      expect((await fetch(`${edge.base}${path}`)).status, path).toBe(404);
    }
    // Never a file outside staticRoot (nginx resolves dot segments first; the stub app answers the rest).
    for (const path of ['/static/..%2fnginx.conf', '/static/%2e%2e/nginx.0123abcd.conf', '/static/x/..%2f..%2fnginx.0123abcd.conf']) {
      const res = await fetch(`${edge.base}${path}`);
      expect(await res.text(), path).not.toContain('worker_processes');
    }
  }, 20_000);
});
