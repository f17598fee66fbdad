import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderNginxConfig, NginxRenderError, type NginxRenderInput } from '../../nginx/render';
import { parseTopology, type Topology, type TopologyOverrides } from '../../infra/topology';

// Every static-upstream config is checked by the real nginx (`nginx -t`); the `resolve` form needs
// nginx >= 1.27.3 (1.22 here), so it is checked by its rendering rules.

const NGINX = '/usr/sbin/nginx';
const roots: string[] = [];
afterAll(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

function paths(prefix: string): NginxRenderInput['paths'] {
  return {
    prefix,
    pidFile: join(prefix, 'nginx.pid'),
    errorLog: join(prefix, 'logs', 'error.log'),
    accessLog: join(prefix, 'logs', 'access.log'),
    cacheDir: join(prefix, 'cache'),
    tempDir: join(prefix, 'tmp'),
    staticRoot: join(prefix, 'static'),
  };
}

function input(overrides: TopologyOverrides = {}, extra: Partial<NginxRenderInput> = {}, prefix = '/tmp/aidiary-nginx'): NginxRenderInput {
  const topology: Topology = parseTopology(overrides);
  return {
    topology,
    upstream: { kind: 'static', servers: [{ host: '127.0.0.1', port: 3000 }, { host: '127.0.0.1', port: 3001 }, { host: '127.0.0.1', port: 3002 }] },
    listenPort: 18080,
    stubStatusPort: 18089,
    paths: paths(prefix),
    ...extra,
  };
}

/** Writes the config into a fresh prefix and runs `nginx -t -p <prefix> -c <file>`. */
function nginxTest(make: (prefix: string) => NginxRenderInput): { ok: boolean; output: string; conf: string } {
  const prefix = mkdtempSync(join(tmpdir(), 'aidiary-nginx-t-'));
  roots.push(prefix);
  for (const d of ['logs', 'tmp', 'static']) mkdirSync(join(prefix, d), { recursive: true });
  const conf = renderNginxConfig(make(prefix));
  const file = join(prefix, 'nginx.conf');
  writeFileSync(file, conf);
  const r = spawnSync(NGINX, ['-t', '-p', prefix, '-c', file], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`, conf };
}

/** The body of `name { … }` (first match, brace-balanced). */
function block(conf: string, header: string): string {
  const start = conf.indexOf(header);
  if (start < 0) throw new Error(`no block "${header}"`);
  let depth = 0;
  for (let i = conf.indexOf('{', start); i < conf.length; i++) {
    if (conf[i] === '{') depth++;
    if (conf[i] === '}' && --depth === 0) return conf.slice(start, i + 1);
  }
  throw new Error('unbalanced');
}

describe('renderNginxConfig: static upstream passes nginx -t', () => {
  it('default topology', () => {
    const r = nginxTest((p) => input({}, {}, p));
    expect(r.output).toContain('test is successful');
    expect(r.ok).toBe(true);
  });

  it('edge cache off, gzip off, tcp_nopush on, one app', () => {
    const r = nginxTest((p) => input(
      { cache: { edgeEnabled: false }, nginx: { gzip: false, tcpNopush: true } },
      { upstream: { kind: 'static', servers: [{ host: '127.0.0.1', port: 3000 }] } }, p));
    expect(r.ok, r.output).toBe(true);
    expect(r.conf).not.toContain('proxy_cache ');
    expect(r.conf).not.toContain('proxy_cache_path');
    expect(r.conf).toMatch(/^\s*tcp_nopush on;$/m);
    expect(r.conf).toMatch(/^\s*gzip off;$/m);
  });

  it('docker target (listens on every interface) with 8 apps', () => {
    const servers = Array.from({ length: 8 }, (_, k) => ({ host: `app-${k}`.replace('app-', '127.0.0.'), port: 3000 }));
    const r = nginxTest((p) => input({ target: 'docker', appReplicas: 8 }, { upstream: { kind: 'static', servers } }, p));
    expect(r.ok, r.output).toBe(true);
    expect(r.conf).toMatch(/listen 18080 backlog=4096;/);
  });

  it('with TLS', () => {
    const r = nginxTest((p) => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
        '-keyout', join(p, 'key.pem'), '-out', join(p, 'cert.pem')], { stdio: 'ignore' });
      return input({}, { tls: { certificateFile: join(p, 'cert.pem'), keyFile: join(p, 'key.pem') } }, p);
    });
    expect(r.ok, r.output).toBe(true);
    expect(r.conf).toMatch(/listen 127\.0\.0\.1:18080 ssl;/);
    // HSTS at server level and in every location with its own add_header (nginx drops inherited ones there).
    const hsts = 'add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;';
    expect(r.conf.split(hsts).length - 1).toBe(7);
    for (const loc of ['location /static/ {', 'location ^~ /media/ {', 'location / {']) expect(block(r.conf, loc)).toContain(hsts);
    const hashedStatic = r.conf.indexOf('location ~ "^/static/');
    expect(r.conf.slice(hashedStatic, r.conf.indexOf('\n        }\n', hashedStatic))).toContain(hsts);
    expect(renderNginxConfig(input())).not.toContain('Strict-Transport-Security');
  });

  it('nginx -t really checks: a broken config fails', () => {
    const prefix = mkdtempSync(join(tmpdir(), 'aidiary-nginx-t-'));
    roots.push(prefix);
    mkdirSync(join(prefix, 'tmp'));
    writeFileSync(join(prefix, 'bad.conf'), renderNginxConfig(input({}, {}, prefix)).replace('least_conn;', 'least_conn_typo;'));
    const r = spawnSync(NGINX, ['-t', '-p', prefix, '-c', join(prefix, 'bad.conf')], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });
});

describe('renderNginxConfig: rules', () => {
  const conf = renderNginxConfig(input());

  it('least_conn upstream with a shared zone, failure limits and keep-alive shorter than the app', () => {
    const up = block(conf, 'upstream aidiary_app');
    expect(up).toMatch(/least_conn;/);
    expect(up).toMatch(/zone aidiary_app \d+k;/);
    expect(up.match(/server 127\.0\.0\.1:300\d max_fails=3 fail_timeout=5s;/g)).toHaveLength(3);
    expect(up).toMatch(/keepalive 64;/);
    const t = parseTopology();
    const seconds = Number(/keepalive_timeout (\d+)s;/.exec(up)![1]);
    expect(seconds).toBe(t.nginx.upstreamKeepaliveTimeoutSeconds);
    expect(seconds * 1000).toBeLessThan((t.nginx.upstreamKeepaliveTimeoutSeconds + 5) * 1000);
  });

  it('retries only idempotent requests, bounded; public pages also on 503, session routes never on 503', () => {
    expect(block(conf, 'location / {')).toContain('proxy_next_upstream error timeout http_502 http_503;');
    // A session route's 503 (session store down, true on every app) is an answer, not an upstream failure.
    expect(block(conf, 'location ~ ^/(admin|api)(/|$) {')).toContain('proxy_next_upstream error timeout http_502;');
    // Public: / and /media/. Session: the two login locations and the /admin|/api one.
    expect(conf.split('\n').filter((l) => /^\s*proxy_next_upstream\s/.test(l)).map((l) => l.trim()).sort())
      .toEqual([...Array(2).fill('proxy_next_upstream error timeout http_502 http_503;'), ...Array(3).fill('proxy_next_upstream error timeout http_502;')]);
    for (const login of ['location = /api/auth/login {', 'location = /admin/login {']) {
      expect(block(conf, login)).toContain('proxy_next_upstream error timeout http_502;');
      expect(block(conf, login)).not.toContain('proxy_cache');
    }
    // The session location never touches the micro-cache.
    expect(block(conf, 'location ~ ^/(admin|api)(/|$) {')).not.toContain('proxy_cache');
    expect(conf).not.toContain('non_idempotent');
    expect(conf).toMatch(/proxy_next_upstream_tries 3;/);
    expect(conf).toMatch(/proxy_connect_timeout 500ms;/);
    expect(conf).toMatch(/proxy_http_version 1\.1;/);
    expect(conf).toMatch(/proxy_set_header Connection "";/);
  });

  it('forwards the resolved client address (overwritten, never appended) and its own request id', () => {
    // Was `X-Forwarded-For $proxy_add_x_forwarded_for` (appending to what the client sent) and a
    // client-chosen X-Request-Id: a client could pick the address the app rate-limits on.
    for (const h of ['X-Forwarded-For $remote_addr', 'X-Real-IP $remote_addr', 'X-Forwarded-Proto $scheme', 'X-Forwarded-Host $host', 'X-Request-Id $request_id']) {
      expect(conf.split(`proxy_set_header ${h};`).length - 1, h).toBe(5);
    }
    expect(conf).not.toContain('proxy_add_x_forwarded_for');
    expect(conf).not.toContain('$aidiary_request_id');
    // A client's own id is logged beside nginx's, never used as it.
    expect(block(conf, 'log_format aidiary')).toBeDefined();
    expect(conf).toMatch(/rid=\$request_id client_rid="\$http_x_request_id"/);
    // No trusted proxies by default: no real_ip at all (the TCP peer is the client).
    expect(conf).not.toMatch(/set_real_ip_from|real_ip_header/);
    const behind = renderNginxConfig(input({ trustedProxies: ['10.1.0.0/16', '2001:db8::/32'] }));
    expect(behind).toContain('set_real_ip_from 10.1.0.0/16;');
    expect(behind).toContain('set_real_ip_from 2001:db8::/32;');
    expect(behind).toContain('real_ip_header X-Forwarded-For;');
    expect(behind).toContain('real_ip_recursive on;');
    expect(() => renderNginxConfig(input({ trustedProxies: ['everyone'] }))).toThrow(/trustedProxies.*IP address or CIDR/);
  });

  it('login endpoints: POSTs rate-limited per client address with 429', () => {
    expect(conf).toContain('limit_req_zone $aidiary_login_key zone=aidiary_login:1m rate=5r/s;');
    expect(conf).toContain('limit_req_status 429;');
    expect(block(conf, 'map $request_method $aidiary_login_key')).toMatch(/default "";\s*POST \$binary_remote_addr;/);
    for (const login of ['location = /api/auth/login {', 'location = /admin/login {']) {
      expect(block(conf, login)).toContain('limit_req zone=aidiary_login burst=20 nodelay;');
    }
    expect(conf.match(/limit_req zone=/g)).toHaveLength(2);
    // nginx's 429 in the app's forms: JSON for the API, a page for the admin form.
    expect(block(conf, 'location = /api/auth/login {')).toContain('error_page 429 @aidiary_login_limited_json;');
    expect(block(conf, 'location = /admin/login {')).toContain('error_page 429 @aidiary_login_limited_html;');
    expect(block(conf, 'location @aidiary_login_limited_json {')).toContain(`return 429 '{"error":{"code":"rate_limited","message":"Too many login attempts; try again in 1 s."}}';`);
  });

  it('unknown Host names get 421; the accepted ones come from the site origin (plus loopback names locally)', () => {
    expect(block(conf, 'map $host $aidiary_known_host')).toMatch(/default 0;\s*127\.0\.0\.1 1;\s*localhost 1;\s*\}/);
    expect(block(conf, 'server {')).toContain('if ($aidiary_known_host = 0) { return 421; }');
    const k8s = renderNginxConfig(input({ target: 'kubernetes', siteUrl: 'https://blog.example.com' }));
    expect(block(k8s, 'map $host $aidiary_known_host')).toMatch(/default 0;\s*blog\.example\.com 1;\s*\}/);
    // The micro-cache key no longer holds the Host.
    expect(conf).toContain('proxy_cache_key $scheme$request_method$request_uri;');
    expect(conf).not.toMatch(/proxy_cache_key .*\$host/);
  });

  it('/media/ stays in the edge cache for the micro-cache TTL only, whatever the app says to browsers', () => {
    const media = block(conf, 'location ^~ /media/ {');
    // The app's X-Accel-Expires (end of the current second) still bounds it, as for pages.
    expect(media).toContain('proxy_ignore_headers Cache-Control Expires;');
    expect(media).toContain('proxy_cache_valid 200 301 404 1s;');
    expect(block(conf, 'location / {')).not.toContain('proxy_ignore_headers');
  });

  it('serves /static/ from disk (hashed names a year, plain names 5 minutes), hides /metrics, stub_status on loopback only', () => {
    const s = block(conf, 'location /static/');
    expect(s).toContain('alias "/tmp/aidiary-nginx/static/";');
    expect(s).toContain('add_header Cache-Control "public, max-age=300";');
    expect(s).not.toContain('immutable');
    // (Not block(): the regex's {8} would count as a brace.)
    const at = conf.indexOf('location ~ "^/static/(.+)\\.[0-9a-f]{8}(\\.[A-Za-z0-9]+)$" {');
    expect(at).toBeGreaterThan(0);
    const hashed = conf.slice(at, conf.indexOf('\n        }\n', at));
    expect(hashed).toContain('alias "/tmp/aidiary-nginx/static/$1$2";');
    expect(hashed).toContain('add_header Cache-Control "public, max-age=31536000, immutable";');
    expect(conf).toMatch(/location = \/metrics \{ return 404; \}/);
    expect(conf).toMatch(/listen 127\.0\.0\.1:18089;\n\s*access_log off;\n\s*location = \/stub_status \{ stub_status; \}/);
    expect(conf.match(/stub_status;/g)).toHaveLength(1);
  });

  it('micro-cache: anonymous GET/HEAD only, session cookie bypasses and is never stored, admin/api/health skipped', () => {
    const loc = block(conf, 'location / {');
    expect(conf).toMatch(/proxy_cache_path "\/tmp\/aidiary-nginx\/cache" levels=1:2 keys_zone=aidiary_edge:\d+m/);
    expect(loc).toContain('proxy_cache aidiary_edge;');
    expect(loc).toContain('proxy_cache_methods GET HEAD;');
    expect(loc).toContain('proxy_cache_valid 200 301 404 1s;');
    expect(loc).toContain('proxy_cache_lock on;');
    expect(loc).toContain('proxy_cache_use_stale updating error timeout http_502 http_503;');
    expect(loc).toContain('proxy_cache_background_update on;');
    expect(loc).toContain('proxy_cache_bypass $cookie_aidiary_session $aidiary_edge_skip $aidiary_bench_bypass;');
    expect(loc).toContain('proxy_no_cache $cookie_aidiary_session $aidiary_edge_skip $aidiary_bench_bypass;');
    expect(loc).toContain('add_header X-Edge-Cache $upstream_cache_status always;');
    expect(block(conf, 'map $uri $aidiary_edge_skip')).toContain('"~^/(admin|api|health)(/|$)" 1;');
    // The bench's edge bypass header counts only from loopback clients.
    expect(block(conf, 'geo $remote_addr $aidiary_loopback_client')).toMatch(/default 0;[\s\S]*127\.0\.0\.0\/8 1;/);
    expect(block(conf, 'map "$aidiary_loopback_client:$http_x_bench_bypass_edge" $aidiary_bench_bypass')).toContain('"~^1:(1|true|yes)$" 1;');
    const ttl = renderNginxConfig(input({ cache: { edgeTtlSeconds: 7 } }));
    expect(ttl).toContain('proxy_cache_valid 200 301 404 7s;');
  });

  it('tuning from the topology, foreground, temp paths under the prefix', () => {
    expect(conf).toMatch(/^daemon off;$/m);
    expect(conf).toMatch(/^worker_processes auto;$/m);
    expect(conf).toMatch(/worker_connections 4096;/);
    expect(conf).toMatch(/use epoll;/);
    expect(conf).toMatch(/multi_accept on;/);
    expect(conf).toMatch(/^\s*tcp_nopush off;$/m);
    expect(conf).toMatch(/tcp_nodelay on;/);
    expect(conf).toMatch(/sendfile on;/);
    // Only for /static/: the micro-cache's files are replaced every second (descriptors of deleted files piled up).
    expect(block(conf, 'location /static/ {')).toMatch(/open_file_cache max=10000 /);
    // The micro-cache location keeps few, short-lived descriptors (replaced files stay open until evicted).
    expect(block(conf, 'location / {')).toContain('open_file_cache max=1000 inactive=5s;');
    expect(block(conf, 'location ^~ /media/ {')).toContain('open_file_cache max=1000 inactive=5s;');
    expect(conf.match(/open_file_cache max=/g)).toHaveLength(4); // two /static/ locations
    expect(conf).toMatch(/gzip on;/);
    expect(conf).toContain('pid "/tmp/aidiary-nginx/nginx.pid";');
    for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) expect(conf).toContain(`${d}_temp_path "/tmp/aidiary-nginx/tmp/${d}";`);
    expect(conf).toMatch(/listen 127\.0\.0\.1:18080 /);
  });

  it('is pure: same input, same output', () => {
    expect(renderNginxConfig(input())).toBe(conf);
  });

  it('refuses unsafe or impossible input', () => {
    expect(() => renderNginxConfig(input({}, { upstream: { kind: 'static', servers: [] } }))).toThrow(NginxRenderError);
    expect(() => renderNginxConfig({ ...input(), paths: { ...paths('/tmp/x'), staticRoot: '/tmp/x; evil' } })).toThrow(/staticRoot/);
    expect(() => renderNginxConfig({ ...input(), paths: { ...paths('/tmp/x'), accessLog: 'relative.log' } })).toThrow(/absolute/);
    expect(() => renderNginxConfig(input({}, { upstream: { kind: 'static', servers: [{ host: 'a b', port: 3000 }] } }))).toThrow(/host/);
    expect(() => renderNginxConfig(input({}, { listenPort: 70000 }))).toThrow(/listenPort/);
    expect(() => renderNginxConfig(input({}, { stubStatusPort: 18080 }))).toThrow(/stubStatusPort/);
  });
});

describe('renderNginxConfig: resolve upstream (Kubernetes headless Service, nginx >= 1.27.3)', () => {
  const conf = renderNginxConfig(input({ target: 'kubernetes' }, {
    upstream: { kind: 'resolve', host: 'aidiary-app-headless.aidiary.svc.cluster.local', port: 3000, resolver: 'kube-dns.kube-system.svc.cluster.local' },
    listenPort: 8080,
    stubStatusPort: 8089,
  }));
  const up = block(conf, 'upstream aidiary_app');

  it('has a zone (required by resolve), a resolver and one resolvable server', () => {
    expect(up).toMatch(/zone aidiary_app \d+k;/);
    expect(up).toMatch(/resolver kube-dns\.kube-system\.svc\.cluster\.local valid=\d+s/);
    expect(up).toMatch(/server aidiary-app-headless\.aidiary\.svc\.cluster\.local:3000 resolve max_fails=3 fail_timeout=5s;/);
    expect(up.match(/^\s*server /gm)).toHaveLength(1);
    expect(up.indexOf('zone')).toBeLessThan(up.indexOf(' resolve '));
    expect(up).toContain('least_conn;');
  });

  it('listens on every interface inside the pod; stub_status stays on loopback', () => {
    expect(conf).toMatch(/listen 8080 backlog=4096;/);
    expect(conf).not.toContain('reuseport');
    expect(conf).toMatch(/listen 127\.0\.0\.1:8089;/);
  });

  it('is otherwise the same config as the static form (checked by nginx -t)', () => {
    // Swap the resolve server for a static one and let the real nginx 1.22 check the rest.
    const prefix = mkdtempSync(join(tmpdir(), 'aidiary-nginx-t-'));
    roots.push(prefix);
    for (const d of ['logs', 'tmp']) mkdirSync(join(prefix, d));
    const asStatic = conf
      .replace(/^\s*resolver .*\n/m, '').replace(/^\s*resolver_timeout .*\n/m, '')
      .replace(/server \S+ resolve /, 'server 127.0.0.1:3000 ')
      .replaceAll('/tmp/aidiary-nginx', prefix);
    writeFileSync(join(prefix, 'nginx.conf'), asStatic);
    const r = spawnSync(NGINX, ['-t', '-p', prefix, '-c', join(prefix, 'nginx.conf')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
});

describe('rendered config under the real nginx: an app\'s 503 passes through, a dead app is skipped', () => {
  // Two apps answer /api/session with their by-design 503 and /health with 200; a third server
  // in the upstream has nothing listening (a removed or restarting app).
  const apps: Server[] = [];
  const hits: Record<string, number> = {};
  let nginxProcess: ChildProcess | null = null;
  let base = '';

  const listen = (server: Server) => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  const freePort = async () => { const s = createServer(); const port = await listen(s); await new Promise((r) => s.close(r)); return port; };
  const fetchText = async (path: string) => { const r = await fetch(`${base}${path}`); return { status: r.status, servedBy: r.headers.get('x-served-by'), body: await r.text() }; };

  beforeAll(async () => {
    const ports: number[] = [];
    for (const name of ['app-a', 'app-b']) {
      const server = createServer((req, res) => {
        hits[`${name} ${req.url}`] = (hits[`${name} ${req.url}`] ?? 0) + 1;
        res.setHeader('X-Served-By', name);
        // A public page whose app cannot reach the database: only app-a is in trouble.
        if (req.url === '/flaky' && name === 'app-a') {
          res.writeHead(503, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'db_unavailable', message: 'database unreachable' } }));
          return;
        }
        if (req.url === '/echo') {
          res.end(JSON.stringify({ xff: req.headers['x-forwarded-for'], realIp: req.headers['x-real-ip'], rid: req.headers['x-request-id'] }));
          return;
        }
        if (req.url === '/api/auth/login') {
          res.writeHead(401, { 'Content-Type': 'application/json' });
          res.end('{"error":{"code":"invalid_credentials","message":"Wrong username or password."}}');
          return;
        }
        if (req.url === '/api/session') {
          res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '2' });
          res.end(JSON.stringify({ error: { code: 'session_store_unavailable', message: 'The session store is unavailable; try again shortly.' } }));
          return;
        }
        res.end('ok');
      });
      apps.push(server);
      ports.push(await listen(server));
    }
    const deadPort = await freePort();
    const listenPort = await freePort();
    const prefix = mkdtempSync(join(tmpdir(), 'aidiary-nginx-run-'));
    roots.push(prefix);
    for (const d of ['logs', 'tmp', 'static']) mkdirSync(join(prefix, d), { recursive: true });
    // Micro-cache off: this block is about retries (and the root-owned temp dir is not writable
    // by nginx's workers); the cache has its own tests.
    const conf = renderNginxConfig(input({ cache: { edgeEnabled: false } }, {
      upstream: { kind: 'static', servers: [...ports, deadPort].map((port) => ({ host: '127.0.0.1', port })) },
      listenPort,
      stubStatusPort: await freePort(),
    }, prefix));
    writeFileSync(join(prefix, 'nginx.conf'), conf);
    nginxProcess = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'logs', 'error.log')], { stdio: 'ignore' });
    base = `http://127.0.0.1:${listenPort}`;
    for (let i = 0; ; i++) {
      if (await fetch(`${base}/health`).then(() => true, () => false)) break;
      if (i > 100) throw new Error('nginx did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 15_000);

  afterAll(async () => {
    if (nginxProcess?.pid) {
      const exited = new Promise((r) => nginxProcess!.once('exit', r));
      nginxProcess.kill('SIGQUIT');
      await exited;
    }
    for (const s of apps) s.close();
  });

  it('a 503 from the app reaches the client as that 503, once per request, and never marks the app failed', async () => {
    const before = (hits['app-a /api/session'] ?? 0) + (hits['app-b /api/session'] ?? 0);
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(await fetchText('/api/session'));
    for (const a of answers) {
      expect(a.status).toBe(503);
      expect(a.servedBy).toMatch(/^app-[ab]$/);
      expect(JSON.parse(a.body).error.code).toBe('session_store_unavailable');
    }
    // Not retried on the other app: one upstream request per client request.
    expect((hits['app-a /api/session'] ?? 0) + (hits['app-b /api/session'] ?? 0) - before).toBe(20);
    // 20 × 503 did not trip max_fails=3: both apps still get requests.
    const served = new Set<string | null>();
    for (let i = 0; i < 20; i++) {
      const a = await fetchText('/health');
      expect(a.status).toBe(200);
      served.add(a.servedBy);
    }
    expect([...served].sort()).toEqual(['app-a', 'app-b']);
  });

  it('a GET to the server with nothing listening is retried on a live app (connect error)', async () => {
    // Past fail_timeout nginx tries the dead server again; every answer must still be a 200.
    for (let i = 0; i < 30; i++) expect((await fetchText('/health')).status).toBe(200);
    const log = readFileSync(join(roots[roots.length - 1], 'logs', 'error.log'), 'utf8');
    expect(log).toMatch(/connect\(\) failed \(111: Connection refused\)/);
  });

  it('overwrites a forged X-Forwarded-For with the peer address and replaces a client-chosen X-Request-Id (logged apart)', async () => {
    const r = await fetch(`${base}/echo`, { headers: { 'X-Forwarded-For': '203.0.113.9, 198.51.100.7', 'X-Request-Id': 'attacker-chosen-id-1' } });
    const seen = await r.json() as { xff: string; realIp: string; rid: string };
    expect(seen.xff).toBe('127.0.0.1');
    expect(seen.realIp).toBe('127.0.0.1');
    expect(seen.rid).toMatch(/^[0-9a-f]{32}$/);
    await new Promise((done) => setTimeout(done, 1300)); // access_log flush=1s
    const log = readFileSync(join(roots[roots.length - 1], 'logs', 'access.log'), 'utf8');
    const line = log.split('\n').find((l) => l.includes('GET /echo'))!;
    expect(line).toContain(`rid=${seen.rid} client_rid="attacker-chosen-id-1"`);
  });

  it('answers 421 to a Host it does not serve, without asking an app', async () => {
    const before = Object.values(hits).reduce((a, b) => a + b, 0);
    const status = await new Promise<number>((resolve, reject) => {
      httpRequest(`${base}/health`, { headers: { Host: 'evil.example' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject).end();
    });
    expect(status).toBe(421);
    expect(Object.values(hits).reduce((a, b) => a + b, 0)).toBe(before);
    expect((await fetchText('/health')).status).toBe(200);
  });

  it('rate-limits login POSTs per client address with 429 before the apps', async () => {
    const before = (hits['app-a /api/auth/login'] ?? 0) + (hits['app-b /api/auth/login'] ?? 0);
    const statuses = await Promise.all(Array.from({ length: 40 }, () => fetch(`${base}/api/auth/login`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }).then((r) => r.status)));
    const limited = statuses.filter((st) => st === 429).length;
    const one = await fetch(`${base}/api/auth/login`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(one.status).toBe(429);
    expect(one.headers.get('retry-after')).toBe('1');
    expect(one.headers.get('content-type')).toBe('application/json');
    expect(await one.json()).toEqual({ error: { code: 'rate_limited', message: 'Too many login attempts; try again in 1 s.' } });
    expect(limited).toBeGreaterThanOrEqual(15); // burst 20 (+ about one per 200 ms) pass
    expect(statuses.filter((st) => st === 401).length + limited).toBe(40);
    expect((hits['app-a /api/auth/login'] ?? 0) + (hits['app-b /api/auth/login'] ?? 0) - before).toBe(40 - limited);
  });

  // Last in this block: the retried 503s count toward app-a's max_fails.
  it('a public page\'s 503 from one app is retried on another app', async () => {
    for (let i = 0; i < 12; i++) {
      const a = await fetchText('/flaky');
      expect(a.status).toBe(200);
      expect(a.servedBy).toBe('app-b');
    }
    expect(hits['app-a /flaky'] ?? 0).toBeGreaterThan(0);
  });
});
