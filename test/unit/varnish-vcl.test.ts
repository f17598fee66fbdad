import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE_PORT_SPAN, localTopology } from '../../infra/local/cluster-layout';
import { connect } from 'node:net';
import { freePortBlock, isAlive, sleep, spawnDetached, stopPid } from '../../infra/local/process';
import { StateDir } from '../../infra/local/state';
import { CDN_NODE, compileVcl, startVarnish, stopVarnish, VARNISHD, varnishPaths, varnishStatus } from '../../infra/local/varnish';
import { renderVarnishVcl, VarnishVclError } from '../../infra/local/varnish-vcl';
import { appEnvironment, appInstances, defaultTopology, edgeTrustedProxies, hasCdnTier, parseTopology, siteOrigin } from '../../infra/topology';

// The local CDN tier's VCL: rendered text, compiled by the real varnishd (-C), then run by the
// real varnishd (infra/local/varnish.ts) in front of a small HTTP server standing in for nginx,
// whose request counts say exactly what Varnish stored, passed and purged.

const withVarnish = localTopology({ cdn: 'varnish' });

describe('topology with the Varnish tier', () => {
  it('moves the site origin to Varnish and makes nginx trust its address, only with cdn varnish', () => {
    expect(siteOrigin(defaultTopology)).toBe('http://127.0.0.1:8080');
    expect(edgeTrustedProxies(defaultTopology)).toEqual([]);
    expect(hasCdnTier(defaultTopology)).toBe(false);
    expect(siteOrigin(withVarnish)).toBe('http://127.0.0.1:8088');
    expect(edgeTrustedProxies(withVarnish)).toEqual(['127.0.0.1']);
    expect(hasCdnTier(withVarnish)).toBe(true);
    // An operator's own proxies stay, and a configured siteUrl still wins.
    const t = parseTopology({ cdn: 'varnish', trustedProxies: ['10.0.0.0/8'], siteUrl: 'https://blog.example.com' });
    expect(edgeTrustedProxies(t)).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(siteOrigin(t)).toBe('https://blog.example.com');
  });

  it('gives the apps the Varnish purge adapter and the Varnish origin', () => {
    const env = appEnvironment(withVarnish, appInstances(withVarnish)[0], { dbNodes: [{ name: 'pg-0', host: '127.0.0.1', port: 5433 }], redisSessions: { host: '127.0.0.1', port: 6380 }, redisCache: { host: '127.0.0.1', port: 6381 } });
    expect(env).toMatchObject({ AIDIARY_CDN_PROVIDER: 'varnish', AIDIARY_CDN_VARNISH_URL: 'http://127.0.0.1:8088', AIDIARY_SITE_URL: 'http://127.0.0.1:8088' });
    const plain = appEnvironment(defaultTopology, appInstances(defaultTopology)[0], { dbNodes: [{ name: 'pg-0', host: '127.0.0.1', port: 5433 }], redisSessions: { host: '127.0.0.1', port: 6380 }, redisCache: { host: '127.0.0.1', port: 6381 } });
    expect(plain.AIDIARY_CDN_PROVIDER).toBeUndefined();
  });

  it('on a stack, a CDN in front changes only what nginx passes; an unknown kind is refused', () => {
    for (const cdn of ['varnish', 'cloudflare'] as const) {
      const t = parseTopology({ target: 'docker', cdn });
      expect(hasCdnTier(t)).toBe(true);
      // The operator lists the CDN's addresses in trustedProxies and sets siteUrl: nothing is guessed.
      expect(edgeTrustedProxies(t)).toEqual([]);
      expect(siteOrigin(t)).toBe(`http://localhost:${t.ports.lb}`);
    }
    expect(() => parseTopology({ cdn: 'akamai' as never })).toThrow(/topology.cdn: Invalid enum value.*set cdn to a valid value/);
  });
});

describe('renderVarnishVcl', () => {
  const vcl = renderVarnishVcl({ topology: withVarnish, backend: { host: '127.0.0.1', port: 8080 } });

  it('reads the TTL from Surrogate-Control, the tags from Surrogate-Key and purges hard from loopback only', () => {
    expect(vcl).toContain('set beresp.ttl = std.duration(regsub(beresp.http.Surrogate-Control');
    expect(vcl).toContain('set beresp.http.xkey = beresp.http.Surrogate-Key;');
    expect(vcl).toContain('xkey.purge(req.http.xkey-purge)');
    expect(vcl).not.toContain('softpurge');
    expect(vcl).toMatch(/if \(client\.ip !~ aidiary_purgers\) \{\s+return \(synth\(403/);
  });

  it('keeps only the session cookie, overwrites X-Forwarded-For and strips the CDN headers from answers', () => {
    expect(vcl).toContain('cookie.keep("aidiary_session");');
    expect(vcl).toContain('set req.http.X-Forwarded-For = client.ip;');
    for (const h of ['Surrogate-Key', 'Surrogate-Control', 'Cache-Tag', 'CDN-Cache-Control', 'Cloudflare-CDN-Cache-Control']) expect(vcl).toContain(`unset resp.http.${h};`);
  });

  it('takes the backend and the stale-while-revalidate window from its input', () => {
    const t = parseTopology({ cdn: 'varnish', cache: { staleWhileRevalidateSeconds: 7 } });
    const text = renderVarnishVcl({ topology: t, backend: { host: '127.0.0.1', port: 19001 } });
    expect(text).toContain('.port = "19001";');
    expect(text).toContain('set req.grace = 7s;');
  });

  it('refuses input that could break out of the VCL', () => {
    expect(() => renderVarnishVcl({ topology: withVarnish, backend: { host: '127.0.0.1"; }', port: 8080 } })).toThrow(VarnishVclError);
    expect(() => renderVarnishVcl({ topology: withVarnish, backend: { host: '127.0.0.1', port: 0 } })).toThrow(/backend.port/);
    expect(() => renderVarnishVcl({ topology: withVarnish, backend: { host: '127.0.0.1', port: 80 }, defaultGraceSeconds: -1 })).toThrow(/defaultGraceSeconds/);
  });

  it('compiles under the real varnishd (-C) with Debian\'s xkey and cookie vmods', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aidiary-vcl-'));
    try {
      writeFileSync(join(dir, 'default.vcl'), vcl);
      expect(() => compileVcl(join(dir, 'default.vcl'), join(dir, 'run'))).not.toThrow();
      // The check has teeth: a broken VCL is refused with the compiler's message.
      writeFileSync(join(dir, 'broken.vcl'), vcl.replace('import xkey;', ''));
      expect(() => compileVcl(join(dir, 'broken.vcl'), join(dir, 'run'))).toThrow(/varnishd rejected .*broken\.vcl[\s\S]*xkey/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface Answer { status: number; headers: IncomingHttpHeaders; body: string }

function send(url: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the rendered VCL under the real varnishd, in front of a stand-in nginx', () => {
  const stateRoot = mkdtempSync(join(tmpdir(), 'aidiary-varnish-'));
  const state = new StateDir(stateRoot);
  let t = withVarnish;
  let origin: Server;
  let cdn = '';
  /** Requests the stand-in nginx received, per path (probes apart). */
  const seen: Record<string, number> = {};
  const lastHeaders: Record<string, IncomingHttpHeaders> = {};
  let healthy = true;

  const page = (tags: string, extra: Record<string, string> = {}) => ({
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'public, max-age=0, s-maxage=1, stale-if-error=3600',
    'surrogate-control': 'max-age=3600',
    'surrogate-key': tags,
    'cache-tag': tags.replaceAll(' ', ','),
    'cdn-cache-control': 'max-age=3600',
    ...extra,
  });

  beforeAll(async () => {
    const base = await freePortBlock(BASE_PORT_SPAN);
    t = localTopology({ cdn: 'varnish', basePort: base });
    state.ensureLayout();
    origin = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/health') {
        res.writeHead(healthy ? 200 : 502).end();
        return;
      }
      seen[path] = (seen[path] ?? 0) + 1;
      lastHeaders[path] = req.headers;
      const n = seen[path];
      if (path.startsWith('/post/')) res.writeHead(200, page(`site post-${path.slice(6)}`)).end(`post ${path} v${n}`);
      else if (path === '/with-cookie') res.writeHead(200, page('site', { 'set-cookie': 'aidiary_session=x; HttpOnly' })).end(`v${n}`);
      else if (path === '/private') res.writeHead(200, { 'cache-control': 'private, no-store' }).end(`v${n}`);
      else if (path === '/short') res.writeHead(200, { 'cache-control': 'public, max-age=0, s-maxage=1, stale-if-error=3600' }).end(`short v${n}`);
      else if (path.startsWith('/media/')) res.writeHead(200, { 'cache-control': 'public, max-age=31536000, immutable', ...(path === '/media/tagged.png' ? { 'surrogate-key': 'media:tagged' } : {}) }).end(`v${n}`);
      else if (path === '/from-edge-cache') res.writeHead(200, page('site', { 'x-edge-cache': 'HIT' })).end(`v${n}`);
      else res.writeHead(404, { 'cache-control': 'public, max-age=0, s-maxage=1' }).end('not found');
    });
    await new Promise<void>((resolve) => origin.listen(t.ports.lb, t.host, resolve));
    await startVarnish(state, t);
    cdn = `http://${t.host}:${t.ports.cdn}`;
  });

  afterAll(async () => {
    await stopVarnish(state);
    await new Promise((resolve) => origin.close(resolve));
    rmSync(stateRoot, { recursive: true, force: true });
  });

  it('runs as a recorded process and reports itself in status', async () => {
    expect(await varnishStatus(state, t)).toMatchObject({ kind: 'varnish', url: `${cdn}/`, port: t.ports.cdn, healthy: true, pid: state.readPid(CDN_NODE) });
  });

  it('stores a page for its Surrogate-Control TTL, hides the CDN headers, and a PURGE of one tag drops only the pages carrying it', async () => {
    const first = await send(`${cdn}/post/1`);
    expect(first.status).toBe(200);
    expect(first.headers['x-cdn-cache']).toBe('MISS');
    for (const h of ['surrogate-key', 'surrogate-control', 'cache-tag', 'cdn-cache-control', 'xkey']) expect(first.headers[h]).toBeUndefined();
    // Clients still see the short Cache-Control meant for every other cache.
    expect(first.headers['cache-control']).toBe('public, max-age=0, s-maxage=1, stale-if-error=3600');
    await send(`${cdn}/post/2`);
    await sleep(1500); // past s-maxage=1: only Surrogate-Control keeps them
    const again = await send(`${cdn}/post/1`);
    expect(again.headers['x-cdn-cache']).toBe('HIT');
    expect(again.body).toBe('post /post/1 v1');
    expect(seen['/post/1']).toBe(1);

    const purge = await send(`${cdn}/`, { method: 'PURGE', headers: { 'xkey-purge': 'post-1 no-such-tag' } });
    expect(purge.status).toBe(200);
    expect(purge.headers['x-purged']).toBe('1');
    expect(purge.body).toContain('purged 1 object(s)');
    expect((await send(`${cdn}/post/1`)).body).toBe('post /post/1 v2');
    expect((await send(`${cdn}/post/2`)).headers['x-cdn-cache']).toBe('HIT');
    expect(seen['/post/2']).toBe(1);
    // A site-wide tag reaches both.
    expect((await send(`${cdn}/`, { method: 'PURGE', headers: { 'xkey-purge': 'site' } })).headers['x-purged']).toBe('2');
  });

  it('refuses a PURGE without tags', async () => {
    const r = await send(`${cdn}/`, { method: 'PURGE' });
    expect(r.status).toBe(400);
    expect(r.body).toContain('xkey-purge');
  });

  it('drops every cookie but the session cookie, and never stores an answer to a session-cookie request', async () => {
    await send(`${cdn}/post/3`, { headers: { cookie: '_ga=GA1.2.3; theme=dark' } });
    expect(lastHeaders['/post/3'].cookie).toBeUndefined();
    expect((await send(`${cdn}/post/3`, { headers: { cookie: 'theme=light' } })).headers['x-cdn-cache']).toBe('HIT');
    for (let i = 0; i < 2; i++) {
      const r = await send(`${cdn}/post/3`, { headers: { cookie: '_ga=1; aidiary_session=abc; theme=dark' } });
      expect(r.headers['x-cdn-cache']).toBe('PASS');
    }
    expect(lastHeaders['/post/3'].cookie).toBe('aidiary_session=abc');
    // Whatever follows the session cookie, and whitespace, is dropped too.
    await send(`${cdn}/post/3`, { headers: { cookie: 'aidiary_session=abcs; theme=dark ;' } });
    expect(lastHeaders['/post/3'].cookie).toBe('aidiary_session=abcs');
    expect(seen['/post/3']).toBe(4);
    // The anonymous copy is still the one from before: the logged-in answers replaced nothing.
    expect((await send(`${cdn}/post/3`)).body).toBe('post /post/3 v1');
  });

  it('never stores an answer with Set-Cookie or Cache-Control private/no-store', async () => {
    for (let i = 0; i < 3; i++) await send(`${cdn}/with-cookie`);
    for (let i = 0; i < 3; i++) await send(`${cdn}/private`);
    expect(seen['/with-cookie']).toBe(3);
    expect(seen['/private']).toBe(3);
  });

  it('sends nginx the TCP peer as X-Forwarded-For, whatever the client claimed, and skips its micro-cache', async () => {
    await send(`${cdn}/post/4`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(lastHeaders['/post/4']['x-forwarded-for']).toBe('127.0.0.1');
    // And asks nginx to skip its micro-cache: Varnish is the cache in front.
    expect(lastHeaders['/post/4']['x-bench-bypass-edge']).toBe('1');
  });

  it('keeps a copy nginx served from its micro-cache 1 s at most', async () => {
    await send(`${cdn}/from-edge-cache`);
    expect((await send(`${cdn}/from-edge-cache`)).headers['x-cdn-cache']).toBe('HIT');
    await sleep(2000);
    await send(`${cdn}/from-edge-cache`);
    await sleep(200); // a stale hit refreshes in the background
    expect(seen['/from-edge-cache']).toBe(2);
  });

  it('keeps an upload a year only when a purge can reach it (its media tag)', async () => {
    for (const p of ['/media/tagged.png', '/media/untagged.png']) await send(`${cdn}${p}`);
    await sleep(1500);
    for (const p of ['/media/tagged.png', '/media/untagged.png']) await send(`${cdn}${p}`);
    await sleep(200);
    expect(seen['/media/tagged.png']).toBe(1);
    expect(seen['/media/untagged.png']).toBe(2);
    expect((await send(`${cdn}/`, { method: 'PURGE', headers: { 'xkey-purge': 'media:tagged' } })).headers['x-purged']).toBe('1');
  });

  it('takes PURGE from loopback only and names any other client in X-Forwarded-For (client address given by the PROXY protocol)', async () => {
    // A second listener speaking the PROXY protocol: the only way to be a non-loopback client here.
    const port = await freePortBlock(1);
    const workDir = join(stateRoot, 'varnish', 'proxy-run');
    const pid = spawnDetached(VARNISHD, {
      args: ['-F', '-j', 'none', '-n', workDir, '-a', `127.0.0.1:${port},PROXY`, '-T', '127.0.0.1:0', '-f', varnishPaths(state).vcl, '-s', 'malloc,16m'],
      logFile: join(stateRoot, 'proxy-varnish.log'),
    });
    try {
      const viaProxy = async (client: string, head: string): Promise<string> => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await new Promise<string>((resolve, reject) => {
              const socket = connect(port, '127.0.0.1', () => socket.end(`PROXY TCP4 ${client} 127.0.0.1 40000 ${port}\r\n${head}Host: 127.0.0.1\r\nConnection: close\r\n\r\n`));
              const chunks: Buffer[] = [];
              socket.on('data', (c: Buffer) => chunks.push(c));
              socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
              socket.on('error', reject);
            });
          } catch (err) {
            if (attempt > 100) throw err;
            await sleep(100); // still starting
          }
        }
      };
      expect(await viaProxy('203.0.113.5', 'PURGE / HTTP/1.1\r\nxkey-purge: site\r\n')).toMatch(/^HTTP\/1\.1 403/);
      expect(await viaProxy('127.0.0.1', 'PURGE / HTTP/1.1\r\nxkey-purge: site\r\n')).toMatch(/^HTTP\/1\.1 200/);
      expect(await viaProxy('203.0.113.5', 'GET /post/6 HTTP/1.1\r\nX-Forwarded-For: 10.9.9.9\r\n')).toMatch(/^HTTP\/1\.1 200/);
      expect(lastHeaders['/post/6']['x-forwarded-for']).toBe('203.0.113.5');
    } finally {
      await stopPid(pid);
    }
  });

  it('serves stale copies (stale-if-error) while nginx is down, and errors where it has none', async () => {
    await send(`${cdn}/short`);
    await send(`${cdn}/post/5`);
    healthy = false;
    await new Promise((resolve) => origin.close(resolve));
    origin.closeAllConnections();
    await sleep(2500); // /short is past its 1 s TTL now
    const stale = await send(`${cdn}/short`);
    expect(stale.status).toBe(200);
    expect(stale.body).toBe('short v1');
    expect(stale.headers['x-cdn-cache']).toBe('STALE');
    // The label is Varnish's own: a client cannot set it.
    expect((await send(`${cdn}/post/5`, { headers: { 'x-cdn-stale': '1' } })).headers['x-cdn-cache']).toBe('HIT');
    expect(Number(stale.headers.age)).toBeGreaterThanOrEqual(2);
    expect(String(stale.headers['x-varnish']).split(' ')).toHaveLength(2); // request id + the stored object's
    expect((await send(`${cdn}/post/5`)).headers['x-cdn-cache']).toBe('HIT');
    expect((await send(`${cdn}/never-fetched`)).status).toBe(503);
  });

  it('stops with its pid', async () => {
    const pid = state.readPid(CDN_NODE)!;
    expect(await stopVarnish(state)).toBe(true);
    expect(isAlive(pid)).toBe(false);
    expect(await varnishStatus(state, t)).toMatchObject({ pid: null, healthy: false });
  });
});
