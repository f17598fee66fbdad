import { acceptedHostNames, type Topology } from '../infra/topology';
import { cdnOnlyHeaders } from '../app/cdn/cdn-headers';
import { plainNameMaxAgeSeconds } from '../app/cdn/static-assets';

// The nginx config, rendered from the topology. Pure: same input, same text; no file or env reads.
// Used by the local runner (static upstream: one server per app process) and by Pulumi (Docker
// static list, Kubernetes `resolve` form over a headless Service).

export interface NginxRenderInput {
  topology: Topology;
  upstream:
    | { kind: 'static'; servers: { host: string; port: number }[] }
    | { kind: 'resolve'; host: string; port: number; resolver: string };
  listenPort: number;
  stubStatusPort: number;
  paths: { prefix: string; pidFile: string; errorLog: string; accessLog: string; cacheDir: string; tempDir: string; staticRoot: string };
  tls?: { certificateFile: string; keyFile: string };
  /** nginx workers; `auto` (one per visible core) when absent. Set it under a CPU limit. */
  workerProcesses?: number;
  /**
   * `user` for the workers (only honoured when the master runs as root). Unset: nginx's default,
   * `nobody`. The local cluster sets it to root when `nobody` cannot reach its files.
   */
  workerUser?: string;
  /**
   * A CDN (or the local Varnish tier) is in front of nginx: pass the apps' purge tags and CDN-only
   * TTL headers (Surrogate-Key, Cache-Tag, Surrogate-Control, CDN-Cache-Control,
   * Cloudflare-CDN-Cache-Control) on to it. Absent or false: nginx is the edge and strips them,
   * so clients never see the tags nor a TTL meant for a purged cache.
   */
  passCdnHeaders?: boolean;
}

export class NginxRenderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NginxRenderError';
  }
}

const UPSTREAM = 'aidiary_app';

/**
 * How long a resolved upstream address is kept (`resolver … valid=`) and how long one lookup may
 * take: together, how long nginx may still send to an app after its address left DNS. The
 * stacks size the app's drain (Docker) or pre-stop delay (Kubernetes) from these.
 */
export const RESOLVER_VALID_SECONDS = 5;
export const RESOLVER_TIMEOUT_SECONDS = 2;
const EDGE_ZONE = 'aidiary_edge';
const LOGIN_ZONE = 'aidiary_login';

/** Cookie whose presence marks a logged-in request: never served from or stored in the edge cache. */
export const SESSION_COOKIE = 'aidiary_session';

// Paths and hosts end up inside the config text: refuse anything that could break out of a token.
function quotePath(key: string, value: string): string {
  if (!value.startsWith('/')) throw new NginxRenderError(`paths.${key}: must be absolute, got "${value}"`);
  if (/["\\$;{}\s]/.test(value)) throw new NginxRenderError(`paths.${key}: must not contain quotes, "$", ";", braces or whitespace, got "${value}"`);
  return `"${value}"`;
}

function checkHost(key: string, host: string): string {
  if (!/^[A-Za-z0-9.:_-]+$/.test(host) || host.length > 253) throw new NginxRenderError(`${key}: not a valid host name or address: "${host}"`);
  return host.includes(':') ? `[${host}]` : host;
}

function checkPort(key: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new NginxRenderError(`${key}: must be a port 1-65535, got ${port}`);
  return port;
}

// A small inline type map instead of `include mime.types`: the config must not depend on where
// the distribution (or the container image) keeps its nginx files.
const MIME_TYPES: [string, string][] = [
  ['text/html', 'html htm'],
  ['text/css', 'css'],
  ['text/plain', 'txt'],
  ['text/xml', 'xml'],
  ['application/javascript', 'js mjs'],
  ['application/json', 'json map'],
  ['application/rss+xml', 'rss'],
  ['application/atom+xml', 'atom'],
  ['image/svg+xml', 'svg svgz'],
  ['image/png', 'png'],
  ['image/jpeg', 'jpg jpeg'],
  ['image/gif', 'gif'],
  ['image/webp', 'webp'],
  ['image/avif', 'avif'],
  ['image/x-icon', 'ico'],
  ['font/woff', 'woff'],
  ['font/woff2', 'woff2'],
  ['application/pdf', 'pdf'],
];

function upstreamBlock(input: NginxRenderInput): string[] {
  const n = input.topology.nginx;
  const failure = `max_fails=${n.maxFails} fail_timeout=${n.failTimeoutSeconds}s`;
  const lines = [`upstream ${UPSTREAM} {`, '    least_conn;', '    # Shared by every worker, so least_conn and max_fails see the same counts.', '    zone aidiary_app 256k;'];
  if (input.upstream.kind === 'static') {
    if (input.upstream.servers.length === 0) throw new NginxRenderError('upstream.servers: at least one app server is required');
    input.upstream.servers.forEach((s, i) => {
      lines.push(`    server ${checkHost(`upstream.servers[${i}].host`, s.host)}:${checkPort(`upstream.servers[${i}].port`, s.port)} ${failure};`);
    });
  } else {
    // nginx >= 1.27.3 (OSS): re-resolves the name (a headless Service) and follows pod changes.
    lines.push(`    resolver ${checkHost('upstream.resolver', input.upstream.resolver)} valid=${RESOLVER_VALID_SECONDS}s ipv6=off;`);
    lines.push(`    resolver_timeout ${RESOLVER_TIMEOUT_SECONDS}s;`);
    lines.push(`    server ${checkHost('upstream.host', input.upstream.host)}:${checkPort('upstream.port', input.upstream.port)} resolve ${failure};`);
  }
  lines.push(
    `    keepalive ${n.upstreamKeepalive};`,
    '    # Shorter than the app keep-alive timeout: nginx closes idle upstream sockets first (invariant 1).',
    `    keepalive_timeout ${n.upstreamKeepaliveTimeoutSeconds}s;`,
    '    keepalive_requests 10000;',
    '}',
  );
  return lines;
}

/**
 * The two proxied locations differ only in what nginx retries on another app:
 * - `/` (public pages): `error timeout http_502 http_503` as the operator contract says, with the
 *   micro-cache. A public page answers 503 only when that app cannot reach the database, which
 *   another app may still do (its own pool), so a retry there can help.
 * - `/admin`, `/api` (session routes): no `http_503`. Their 503 is by design "session store
 *   down", true on every app: a retry only multiplies it, and counting it in `max_fails` marked
 *   every app down, so clients got nginx's 502 instead of the app's 503 and its message.
 * A draining app never answers 503 (it finishes requests and closes its listener), so rolling
 * restarts rely on `error` alone.
 */
interface LocationOptions {
  /** The location line's match, e.g. `/` or `~ ^/(admin|api)(/|$)`. */
  match: string;
  kind: 'public' | 'session';
  /** Login endpoints: POSTs limited per client address (limit_req, answered 429 in this form). */
  loginLimit?: 'json' | 'html';
  /**
   * /media/: the app sends `immutable, max-age=1y` for browsers (content-addressed names), but
   * the edge must not keep a deleted image that long: nginx ignores those headers and keeps the
   * file as long as a page (the app's X-Accel-Expires: to the end of the current second; else the
   * micro-cache TTL).
   */
  media?: boolean;
}

function proxyLocation(input: NginxRenderInput, o: LocationOptions): string[] {
  const n = input.topology.nginx;
  const c = input.topology.cache;
  const retryOn = o.kind === 'public' ? 'error timeout http_502 http_503' : 'error timeout http_502';
  const lines = [
    `    location ${o.match} {`,
    `        proxy_pass http://${UPSTREAM};`,
    '        proxy_http_version 1.1;',
    '        proxy_set_header Connection "";',
    '        proxy_set_header Host $http_host;',
    '        # Overwritten, never appended: the app sees exactly the client address nginx resolved',
    '        # (the TCP peer, or what a trusted proxy of trustedProxies said), and nginx\'s own id.',
    '        proxy_set_header X-Forwarded-For $remote_addr;',
    '        proxy_set_header X-Forwarded-Proto $scheme;',
    '        proxy_set_header X-Forwarded-Host $host;',
    '        proxy_set_header X-Real-IP $remote_addr;',
    '        proxy_set_header X-Request-Id $request_id;',
    `        proxy_connect_timeout ${n.proxyConnectTimeoutMs}ms;`,
    `        proxy_read_timeout ${n.proxyReadTimeoutSeconds}s;`,
    `        proxy_send_timeout ${n.proxyReadTimeoutSeconds}s;`,
    '        # Retry on another app when one is gone. nginx never re-sends a non-idempotent request',
    '        # (POST, PATCH, LOCK) once it reached an upstream; we keep that default.',
    `        proxy_next_upstream ${retryOn};`,
    `        proxy_next_upstream_tries ${n.proxyNextUpstreamTries};`,
    `        proxy_next_upstream_timeout ${n.proxyReadTimeoutSeconds}s;`,
    '        proxy_buffering on;',
    '        proxy_buffer_size 16k;',
    '        proxy_buffers 32 16k;',
    '        proxy_busy_buffers_size 64k;',
    ...cdnHeaderLines(input),
  ];
  if (o.loginLimit) {
    lines.push(
      '        # Password guessing per client address, before any app work (429, like the app\'s own',
      '        # limits; 503 stays "session store down").',
      `        limit_req zone=${LOGIN_ZONE} burst=${input.topology.login.edgeBurst} nodelay;`,
      `        error_page 429 @aidiary_login_limited_${o.loginLimit};`,
    );
  }
  const hsts = hstsLines(input);
  if (c.edgeEnabled && o.kind === 'public') {
    lines.push(
      '        # Micro-cache for anonymous GET/HEAD: a logged-in request (session cookie) neither reads',
      '        # nor stores; /admin, /api and /health never do. Responses with Set-Cookie or',
      '        # Cache-Control: private/no-store are not stored (nginx defaults, kept on purpose).',
      `        proxy_cache ${EDGE_ZONE};`,
      '        proxy_cache_methods GET HEAD;',
      '        # No $host: nginx serves the accepted host names only (421 otherwise), and one copy',
      '        # per URL whatever the Host keeps the cache from growing with made-up names.',
      '        proxy_cache_key $scheme$request_method$request_uri;',
      `        proxy_cache_valid 200 301 404 ${c.edgeTtlSeconds}s;`,
      ...(o.media ? ['        proxy_ignore_headers Cache-Control Expires;'] : []),
      '        proxy_cache_lock on;',
      '        proxy_cache_lock_timeout 2s;',
      '        # A stale anonymous page beats an error page while every app is unreachable or reports',
      '        # its database down (503); logged-in and /admin, /api requests never use the cache.',
      ...staleUseLines(input),
      `        proxy_cache_bypass $cookie_${SESSION_COOKIE} $aidiary_edge_skip $aidiary_bench_bypass;`,
      `        proxy_no_cache $cookie_${SESSION_COOKIE} $aidiary_edge_skip $aidiary_bench_bypass;`,
      '        add_header X-Edge-Cache $upstream_cache_status always;',
      ...hsts.map((l) => `    ${l}`),
      '        # Descriptors of micro-cache files: a hit skips open()/fstat() (home-cached went from',
      '        # 0.65 to 0.83-0.87 of static in the bench). Never stale: nginx passes the cache',
      '        # entry\'s inode (uniq) and re-opens when a refresh replaced the file. Bounded and',
      '        # short-lived, because replaced files stay open until their entry leaves this cache.',
      '        open_file_cache max=1000 inactive=5s;',
      '        open_file_cache_valid 1s;',
      '        open_file_cache_min_uses 1;',
    );
  }
  lines.push('    }');
  return lines;
}

/**
 * Without a CDN, an expired copy answers while one request refreshes it (stale-while-updating: a
 * page at most a refresh's duration past its second). With a CDN in front, never: the CDN's fetch
 * after a purge (commit + 1.1 s) would otherwise take the copy from before the write and keep it
 * for the CDN TTL. Errors still fall back to the stale copy either way.
 */
function staleUseLines(input: NginxRenderInput): string[] {
  if (input.passCdnHeaders) return ['        proxy_cache_use_stale error timeout http_502 http_503;'];
  return ['        proxy_cache_use_stale updating error timeout http_502 http_503;', '        proxy_cache_background_update on;'];
}

/**
 * The CDN-only headers: hidden from clients unless a CDN is in front. In every proxied location
 * (proxy_hide_header is inherited only by a location that sets none of its own). Whatever it
 * passes, nginx reads none of them as its own TTL: it knows X-Accel-Expires (the app's 1 s bound,
 * read first), Cache-Control and Expires only, so the micro-cache stays at 1 s.
 */
function cdnHeaderLines(input: NginxRenderInput): string[] {
  if (input.passCdnHeaders) return ['        # A CDN is in front: the purge tags and CDN-only TTL headers go on to it.'];
  return [
    '        # No CDN in front: purge tags and CDN-only TTL headers never reach clients.',
    ...cdnOnlyHeaders.map((h) => `        proxy_hide_header ${h};`),
  ];
}

/**
 * nginx's own 429 for the login endpoints, in the form the app answers its limits: the API's
 * `{error:{code:'rate_limited',…}}` and a short page for the admin form, both with Retry-After.
 */
function loginLimitedLocations(input: NginxRenderInput): string[] {
  const seconds = Math.max(1, Math.ceil(1 / input.topology.login.edgeRatePerSecond));
  const message = `Too many login attempts; try again in ${seconds} s.`;
  return [
    '        location @aidiary_login_limited_json {',
    '            default_type application/json;',
    `            add_header Retry-After ${seconds} always;`,
    ...hstsLines(input).map((l) => `        ${l}`),
    `            return 429 '{"error":{"code":"rate_limited","message":"${message}"}}';`,
    '        }',
    '        location @aidiary_login_limited_html {',
    '            default_type "text/html; charset=utf-8";',
    `            add_header Retry-After ${seconds} always;`,
    ...hstsLines(input).map((l) => `        ${l}`),
    `            return 429 '<!doctype html><title>Too many login attempts</title><p>${message} <a href="/admin/login">Back to the login form</a></p>';`,
    '        }',
  ];
}

/**
 * HSTS on the TLS edge. Repeated in every location that has its own add_header (nginx drops the
 * server-level ones there).
 */
function hstsLines(input: NginxRenderInput): string[] {
  return input.tls ? ['    add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;'] : [];
}

/** set_real_ip_from for the operator's proxies in front of nginx; nothing when there are none. */
function realIpLines(t: Topology): string[] {
  if (t.trustedProxies.length === 0) return [];
  return [
    '    # Proxies in front of nginx (topology trustedProxies): the client address is the last',
    '    # X-Forwarded-For entry not sent by one of them. Anyone else\'s header is ignored.',
    ...t.trustedProxies.map((cidr) => {
      if (!/^[0-9A-Fa-f.:/]+$/.test(cidr)) throw new NginxRenderError(`trustedProxies: not an address or CIDR: "${cidr}"`);
      return `    set_real_ip_from ${cidr};`;
    }),
    '    real_ip_header X-Forwarded-For;',
    '    real_ip_recursive on;',
  ];
}

/**
 * /static/ straight from disk, with the app's names and cache headers
 * (app/routes/public/static-files.ts, app/cdn/static-assets.ts): the views link
 * `<base>.<8 hex>.<ext>`, served from `<base>.<ext>` immutable for a year; the plain name is
 * cached 5 minutes. nginx does not check that the hash is the file's: it serves what its
 * staticRoot holds, which comes from the same checkout (local) or the same build (edge image) as
 * the apps. The app, asked directly, redirects another release's hash to the current name.
 */
function staticLocations(input: NginxRenderInput, staticRoot: string): string[] {
  const fileCache = [
    '            # Per location: at http level (max=10000, 60 s) it also held micro-cache files, which',
    '            # are replaced every second; under the bench one worker kept 8,103 descriptors of',
    '            # deleted files and hit its limit (404s, "Too many open files").',
    '            open_file_cache max=10000 inactive=60s;',
    '            open_file_cache_valid 30s;',
    '            open_file_cache_min_uses 2;',
    '            open_file_cache_errors on;',
  ];
  const hsts = hstsLines(input).map((l) => `    ${l}`);
  const root = quotePath('staticRoot', `${staticRoot}/`); // "…/" (checked: no quote, `$` or space)
  return [
    '        # Plain names: their content changes with a release, so browsers keep them 5 minutes.',
    '        location /static/ {',
    `            alias ${root};`,
    '            try_files $uri =404;',
    '            access_log off;',
    ...fileCache,
    `            add_header Cache-Control "public, max-age=${plainNameMaxAgeSeconds}";`,
    ...hsts,
    '        }',
    '        # Content-hashed names (style.1a2b3c4d.css is style.css): a year, never revalidated.',
    '        location ~ "^/static/(.+)\\.[0-9a-f]{8}(\\.[A-Za-z0-9]+)$" {',
    `            alias ${root.slice(0, -1)}$1$2";`,
    '            access_log off;',
    ...fileCache,
    '            add_header Cache-Control "public, max-age=31536000, immutable";',
    ...hsts,
    '        }',
  ];
}

function checkUserName(name: string): string {
  if (!/^[a-z_][a-z0-9_-]*$/.test(name)) throw new NginxRenderError(`workerUser: not a user name: "${name}"`);
  return name;
}

/** Renders the whole nginx.conf (run with `nginx -p <prefix> -c <file>`; it stays in the foreground). */
export function renderNginxConfig(input: NginxRenderInput): string {
  const t = input.topology;
  const n = t.nginx;
  const p = input.paths;
  const q = (key: keyof NginxRenderInput['paths']) => quotePath(key, p[key]);
  const listenPort = checkPort('listenPort', input.listenPort);
  const stubStatusPort = checkPort('stubStatusPort', input.stubStatusPort);
  if (listenPort === stubStatusPort) throw new NginxRenderError(`stubStatusPort: must differ from listenPort (${listenPort})`);
  // Local processes bind loopback only; containers listen on every interface of their network.
  const listenAddress = t.target === 'local' ? `${checkHost('topology.host', t.host)}:${listenPort}` : String(listenPort);
  const staticRoot = p.staticRoot.replace(/\/+$/, '');
  const temp = (sub: string) => quotePath('tempDir', `${p.tempDir.replace(/\/+$/, '')}/${sub}`);

  const workers = input.workerProcesses;
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 1)) throw new NginxRenderError(`workerProcesses: must be a whole number of at least 1, got ${workers}`);

  const out: string[] = [
    `# Rendered by nginx/render.ts for topology "${t.name}" (${t.target}). Do not edit: re-render.`,
    'daemon off;',
    `worker_processes ${workers ?? 'auto'};`,
    ...(input.workerUser === undefined ? [] : [`user ${checkUserName(input.workerUser)};`]),
    `worker_rlimit_nofile ${n.workerConnections * 2};`,
    `pid ${q('pidFile')};`,
    `error_log ${q('errorLog')} warn;`,
    '',
    'events {',
    `    worker_connections ${n.workerConnections};`,
    '    use epoll;',
    '    multi_accept on;',
    '}',
    '',
    'http {',
    '    types {',
    ...MIME_TYPES.map(([type, exts]) => `        ${type} ${exts};`),
    '    }',
    '    default_type application/octet-stream;',
    '    server_tokens off;',
    '',
    '    # Every temp path lives under the prefix: no writes to /var/lib/nginx, works unprivileged.',
    `    client_body_temp_path ${temp('client_body')};`,
    `    proxy_temp_path ${temp('proxy')};`,
    `    fastcgi_temp_path ${temp('fastcgi')};`,
    `    uwsgi_temp_path ${temp('uwsgi')};`,
    `    scgi_temp_path ${temp('scgi')};`,
    '',
    '    log_format aidiary \'$remote_addr [$time_iso8601] "$request" $status $body_bytes_sent \'',
    '                       \'rt=$request_time up=$upstream_addr ut=$upstream_response_time \'',
    '                       \'edge=$upstream_cache_status rid=$request_id client_rid="$http_x_request_id"\';',
    `    access_log ${q('accessLog')} aidiary buffer=64k flush=1s;`,
    '',
    '    sendfile on;',
    // DESIGN §4: tcp_nopush on stalled ~60 KB keep-alive responses by 40 ms each; off unless measured.
    `    tcp_nopush ${n.tcpNopush ? 'on' : 'off'};`,
    '    tcp_nodelay on;',
    `    keepalive_timeout ${n.keepaliveTimeoutSeconds}s;`,
    '    keepalive_requests 10000;',
    '    client_header_timeout 10s;',
    '    client_body_timeout 30s;',
    '    send_timeout 30s;',
    '    reset_timedout_connection on;',
    '    client_header_buffer_size 4k;',
    '    large_client_header_buffers 4 16k;',
    '    client_body_buffer_size 128k;',
    `    client_max_body_size ${n.clientMaxBodySize};`,
    '',
    `    gzip ${n.gzip ? 'on' : 'off'};`,
    ...(n.gzip
      ? [
          '    gzip_comp_level 5;',
          '    gzip_min_length 1024;',
          '    gzip_proxied any;',
          '    gzip_vary on;',
          '    gzip_types text/css text/plain text/xml application/javascript application/json application/xml application/rss+xml application/atom+xml image/svg+xml;',
        ]
      : []),
    '',
    '    # Request ids are nginx\'s own ($request_id, passed to the app as X-Request-Id); a',
    '    # client-sent X-Request-Id is only logged, as client_rid, never taken as the id.',
    ...realIpLines(t),
    '    # Host names this site answers to; any other Host gets 421 and no page render.',
    '    map $host $aidiary_known_host {',
    '        default 0;',
    ...acceptedHostNames(t).map((h) => `        ${checkHost('acceptedHostNames', h)} 1;`),
    '    }',
    '    # Login POSTs, per client address (an empty key is not counted: GETs of the form).',
    '    map $request_method $aidiary_login_key {',
    '        default "";',
    '        POST $binary_remote_addr;',
    '    }',
    `    limit_req_zone $aidiary_login_key zone=${LOGIN_ZONE}:1m rate=${t.login.edgeRatePerSecond}r/s;`,
    '    limit_req_status 429;',
    '    limit_req_log_level warn;',
    '    map $uri $aidiary_edge_skip {',
    '        default 0;',
    '        "~^/(admin|api|health)(/|$)" 1;',
    '    }',
    '    # `aidiary bench` measures the app caches behind nginx (home-l1) with X-Bench-Bypass-Edge: 1;',
    '    # honoured from loopback clients only, so the public cannot make nginx skip its micro-cache.',
    '    # $remote_addr: the resolved client address (a forged X-Forwarded-For is ignored unless it',
    '    # comes from a trustedProxies peer).',
    '    geo $remote_addr $aidiary_loopback_client {',
    '        default 0;',
    '        127.0.0.0/8 1;',
    '        ::1 1;',
    '    }',
    '    map "$aidiary_loopback_client:$http_x_bench_bypass_edge" $aidiary_bench_bypass {',
    '        default 0;',
    '        "~^1:(1|true|yes)$" 1;',
    '    }',
  ];
  if (t.cache.edgeEnabled) {
    out.push(`    proxy_cache_path ${q('cacheDir')} levels=1:2 keys_zone=${EDGE_ZONE}:16m max_size=256m inactive=10m use_temp_path=off;`);
  }
  out.push('', ...upstreamBlock(input).map((l) => `    ${l}`), '');

  out.push('    server {');
  if (input.tls) {
    out.push(
      `        listen ${listenAddress} ssl;`,
      `        ssl_certificate ${quotePath('tls.certificateFile', input.tls.certificateFile)};`,
      `        ssl_certificate_key ${quotePath('tls.keyFile', input.tls.keyFile)};`,
      '        ssl_protocols TLSv1.2 TLSv1.3;',
      '        ssl_session_cache shared:aidiary_tls:10m;',
      '        ssl_session_timeout 1h;',
    );
  } else {
    // No `reuseport`: one shared listen socket, no per-worker queue that leaves with an old worker.
    // (The "fresh connection" resets once blamed on reloads were keep-alive races miscounted by
    // the test client; re-measured, 40 reloads under load lost nothing with or without it.)
    out.push(`        listen ${listenAddress} backlog=4096;`);
  }
  out.push(
    '        server_name _;',
    '        if ($aidiary_known_host = 0) { return 421; }',
    ...hstsLines(input),
    '',
    ...staticLocations(input, staticRoot),
    '',
    '        # Prometheus metrics are scraped from each app directly, never through the LB.',
    '        location = /metrics { return 404; }',
    '        location ^~ /metrics/ { return 404; }',
    '',
    ...proxyLocation(input, { match: '= /api/auth/login', kind: 'session', loginLimit: 'json' }).map((l) => `    ${l}`),
    ...proxyLocation(input, { match: '= /admin/login', kind: 'session', loginLimit: 'html' }).map((l) => `    ${l}`),
    ...loginLimitedLocations(input),
    ...proxyLocation(input, { match: '~ ^/(admin|api)(/|$)', kind: 'session' }).map((l) => `    ${l}`),
    '',
    ...proxyLocation(input, { match: '^~ /media/', kind: 'public', media: true }).map((l) => `    ${l}`),
    '',
    ...proxyLocation(input, { match: '/', kind: 'public' }).map((l) => `    ${l}`),
    '    }',
    '',
    '    # stub_status for the local exporter/drills: loopback only, never the public listener.',
    '    server {',
    `        listen 127.0.0.1:${stubStatusPort};`,
    '        access_log off;',
    '        location = /stub_status { stub_status; }',
    '        location / { return 404; }',
    '    }',
    '}',
    '',
  );
  return out.join('\n');
}
