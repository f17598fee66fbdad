import type { Topology } from '../infra/topology';

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
function proxyLocation(input: NginxRenderInput, kind: 'public' | 'session'): string[] {
  const n = input.topology.nginx;
  const c = input.topology.cache;
  const retryOn = kind === 'public' ? 'error timeout http_502 http_503' : 'error timeout http_502';
  const lines = [
    kind === 'public' ? '    location / {' : '    location ~ ^/(admin|api)(/|$) {',
    `        proxy_pass http://${UPSTREAM};`,
    '        proxy_http_version 1.1;',
    '        proxy_set_header Connection "";',
    '        proxy_set_header Host $http_host;',
    '        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '        proxy_set_header X-Forwarded-Proto $scheme;',
    '        proxy_set_header X-Forwarded-Host $host;',
    '        proxy_set_header X-Real-IP $remote_addr;',
    '        proxy_set_header X-Request-Id $aidiary_request_id;',
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
  ];
  if (c.edgeEnabled && kind === 'public') {
    lines.push(
      '        # Micro-cache for anonymous GET/HEAD: a logged-in request (session cookie) neither reads',
      '        # nor stores; /admin, /api and /health never do. Responses with Set-Cookie or',
      '        # Cache-Control: private/no-store are not stored (nginx defaults, kept on purpose).',
      `        proxy_cache ${EDGE_ZONE};`,
      '        proxy_cache_methods GET HEAD;',
      '        proxy_cache_key $scheme$request_method$host$request_uri;',
      `        proxy_cache_valid 200 301 404 ${c.edgeTtlSeconds}s;`,
      '        proxy_cache_lock on;',
      '        proxy_cache_lock_timeout 2s;',
      '        # A stale anonymous page beats an error page while every app is unreachable or reports',
      '        # its database down (503); logged-in and /admin, /api requests never use the cache.',
      '        proxy_cache_use_stale updating error timeout http_502 http_503;',
      '        proxy_cache_background_update on;',
      `        proxy_cache_bypass $cookie_${SESSION_COOKIE} $aidiary_edge_skip $aidiary_bench_bypass;`,
      `        proxy_no_cache $cookie_${SESSION_COOKIE} $aidiary_edge_skip $aidiary_bench_bypass;`,
      '        add_header X-Edge-Cache $upstream_cache_status always;',
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
    '                       \'edge=$upstream_cache_status rid=$aidiary_request_id\';',
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
    '    # Keep a sane caller-supplied request id, else mint one; the app logs it.',
    '    map $http_x_request_id $aidiary_request_id {',
    '        default $request_id;',
    '        "~^[A-Za-z0-9._-]{8,128}$" $http_x_request_id;',
    '    }',
    '    map $uri $aidiary_edge_skip {',
    '        default 0;',
    '        "~^/(admin|api|health)(/|$)" 1;',
    '    }',
    '    # `aidiary bench` measures the app caches behind nginx (home-l1) with X-Bench-Bypass-Edge: 1;',
    '    # honoured from loopback clients only, so the public cannot make nginx skip its micro-cache.',
    '    geo $aidiary_loopback_client {',
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
    '',
    '        # Static files straight from disk; names are content-hashed, so cache them for a year.',
    '        location /static/ {',
    `            alias ${quotePath('staticRoot', `${staticRoot}/`)};`,
    '            try_files $uri =404;',
    '            access_log off;',
    '            # Per location: at http level (max=10000, 60 s) it also held micro-cache files, which',
    '            # are replaced every second; under the bench one worker kept 8,103 descriptors of',
    '            # deleted files and hit its limit (404s, "Too many open files").',
    '            open_file_cache max=10000 inactive=60s;',
    '            open_file_cache_valid 30s;',
    '            open_file_cache_min_uses 2;',
    '            open_file_cache_errors on;',
    '            expires 1y;',
    '            add_header Cache-Control "public, immutable";',
    '        }',
    '',
    '        # Prometheus metrics are scraped from each app directly, never through the LB.',
    '        location = /metrics { return 404; }',
    '        location ^~ /metrics/ { return 404; }',
    '',
    ...proxyLocation(input, 'session').map((l) => `    ${l}`),
    '',
    ...proxyLocation(input, 'public').map((l) => `    ${l}`),
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
