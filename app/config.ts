import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import type { CdnCachePolicy } from './cdn/cdn-headers';

// Environment → typed config, validated once at start. An error names the variable and the fix.
// Secrets come from `<NAME>_FILE` (a 0600 file; local cluster) or `<NAME>` (injected by the
// platform from a Kubernetes Secret / Pulumi secret); they are never logged.

export interface HostPort { host: string; port: number }
/** An ACL user and its password (username absent: AUTH <password> as Redis's default user). */
export interface RedisAuth { username?: string; password: string }
export interface DbNode extends HostPort { name: string }

export interface AppConfig {
  appName: string;
  host: string;
  port: number;
  /** Explicit node list (local, Docker); the primary is found by role. */
  dbNodes: DbNode[] | null;
  /** Service mode (Kubernetes): `-rw` and `-ro` addresses that hide the nodes. */
  dbPrimaryService: HostPort | null;
  dbReadService: HostPort | null;
  dbName: string;
  dbUser: string;
  dbPassword: string;
  dbPoolSize: number;
  dbMaxLagBytes: number;
  dbMaxLagMs: number;
  redisSessionsUrl: string;
  redisCacheUrl: string;
  /** Credentials per Redis role (AIDIARY_REDIS_<ROLE>_USER + _PASSWORD_FILE); null = no AUTH. */
  redisSessionsAuth: RedisAuth | null;
  redisCacheAuth: RedisAuth | null;
  sessionSecret: string;
  adminPassword: string | null;
  keepAliveTimeoutMs: number;
  drainMs: number;
  /**
   * The edge's addresses/CIDRs (AIDIARY_TRUSTED_EDGE): only a peer in this list may set the client
   * address (X-Forwarded-For), the scheme (X-Forwarded-Proto) and the request id (X-Request-Id).
   */
  trustedEdge: string[];
  /** True when trustedEdge is non-empty (the app runs behind nginx). */
  trustProxy: boolean;
  /** The public origin (scheme://host[:port]): feeds, sitemap, canonical links. */
  siteUrl: string;
  login: {
    maxAttemptsPerAddress: number;
    addressWindowSeconds: number;
    /** After k failures a username waits 2^k s, at most this; a success resets it. */
    backoffCapSeconds: number;
  };
  cache: {
    l1: boolean;
    l2: boolean;
    l1MaxBytes: number;
    l1TtlSeconds: number;
    l2TtlSeconds: number;
    staleWhileRevalidateSeconds: number;
  };
  logLevel: string;
  /** Loopback-only control port (bench switches, drills); 0 = off. Never proxied by nginx. */
  controlPort: number;
  /** Largest image (width × height, from its header) an upload may declare; thumbnails decode no more. */
  maxUploadPixels: number;
  /** The CDN-only TTL and the stale-if-error window of anonymous pages (app/cdn/cdn-headers.ts). */
  cdn: CdnCachePolicy;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function hostPort(variable: string, value: string): HostPort {
  const m = /^([^:@,\s]+):(\d{1,5})$/.exec(value.trim());
  if (!m) throw new ConfigError(`${variable}: expected host:port, got "${value}"; set it like db.example:5432`);
  return { host: m[1], port: Number(m[2]) };
}

function parseDbNodes(value: string): DbNode[] {
  return value.split(',').filter(Boolean).map((item) => {
    const m = /^([a-z][a-z0-9-]*)@(.+)$/.exec(item.trim());
    if (!m) throw new ConfigError(`AIDIARY_DB_NODES: expected name@host:port[,…], got "${item}"; e.g. pg-0@127.0.0.1:5433,pg-1@127.0.0.1:5434`);
    return { name: m[1], ...hostPort('AIDIARY_DB_NODES', m[2]) };
  });
}

/** `<NAME>_FILE` (read, trimmed, never empty) or `<NAME>`; null when neither is set and not required. */
export function secret(env: Env, name: string, required: boolean): string | null {
  const file = env[`${name}_FILE`];
  if (file) {
    try {
      const value = readFileSync(file, 'utf8').trim();
      if (value) return value;
    } catch (err) {
      throw new ConfigError(`${name}_FILE: cannot read "${file}" (${(err as NodeJS.ErrnoException).code ?? 'error'}); point it at a readable file`);
    }
    throw new ConfigError(`${name}_FILE: "${file}" is empty; write the secret into it`);
  }
  const direct = env[name];
  if (direct) return direct;
  if (required) throw new ConfigError(`${name}: missing; set ${name} or ${name}_FILE (a 0600 file holding it)`);
  return null;
}

function int(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name}: expected an integer ≥ ${min}, got "${raw}"`);
  return n;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['on', 'true', '1', 'yes'].includes(raw)) return true;
  if (['off', 'false', '0', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name}: expected on/off, got "${raw}"`);
}

function addressList(env: Env, name: string): string[] {
  const raw = env[name];
  if (!raw) return [];
  return raw.split(',').map((item) => item.trim()).filter(Boolean).map((item) => {
    const [addr, bits, ...rest] = item.split('/');
    const family = isIP(addr);
    const okBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
    if (!family || rest.length > 0 || !okBits) throw new ConfigError(`${name}: "${item}" is not an IP address or CIDR; list the edge's addresses like 127.0.0.1,10.0.0.0/8`);
    return item;
  });
}

function origin(env: Env, name: string, fallback: string): string {
  const value = (env[name] ?? fallback).replace(/\/$/, '').toLowerCase();
  if (!/^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/.test(value)) throw new ConfigError(`${name}: expected scheme://host[:port] without a path, got "${value}"; e.g. https://blog.example.com`);
  return value;
}

/**
 * A Redis role's URL and credentials. The targets give the password as a file
 * (AIDIARY_REDIS_<ROLE>_PASSWORD_FILE). A URL may carry `user:password@` (tests do): the
 * credentials move into the auth and the URL kept in config (and in any message) has none.
 */
function redisEndpoint(env: Env, role: 'SESSIONS' | 'CACHE', fallback: string): { url: string; auth: RedisAuth | null } {
  const name = `AIDIARY_REDIS_${role}_URL`;
  const value = env[name] ?? fallback;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name}: expected redis://host:port, got a value that is not a URL`);
  }
  if (!/^rediss?:$/.test(url.protocol) || !url.hostname) throw new ConfigError(`${name}: expected redis://host:port, got "${url.protocol}//${url.host}"`);
  const fromUrl = url.password ? { username: decodeURIComponent(url.username) || undefined, password: decodeURIComponent(url.password) } : null;
  url.username = '';
  url.password = '';
  const password = secret(env, `AIDIARY_REDIS_${role}_PASSWORD`, false);
  if (fromUrl && password) throw new ConfigError(`${name}: carries a password and AIDIARY_REDIS_${role}_PASSWORD(_FILE) is set too; keep the file only`);
  const username = env[`AIDIARY_REDIS_${role}_USER`] || undefined;
  if (username && !/^[A-Za-z0-9_.-]+$/.test(username)) throw new ConfigError(`AIDIARY_REDIS_${role}_USER: expected an ACL user name, got "${username}"`);
  if (username && !password && !fromUrl) throw new ConfigError(`AIDIARY_REDIS_${role}_USER: set without a password; set AIDIARY_REDIS_${role}_PASSWORD_FILE (a 0600 file holding it)`);
  const auth = password ? { username, password } : fromUrl ? { username: username ?? fromUrl.username, password: fromUrl.password } : null;
  return { url: url.toString().replace(/\/$/, ''), auth };
}

// ---- CDN cache headers (app/cdn/cdn-headers.ts) ---------------------------------------------
// AIDIARY_CDN_TTL_SECONDS: how long a CDN keeps an anonymous page (Surrogate-Control,
// CDN-Cache-Control, Cloudflare-CDN-Cache-Control). Long is safe: every write purges the page's
// tags. AIDIARY_CDN_STALE_IF_ERROR_SECONDS: how long past that a copy may be served while the
// origin fails (stale-if-error, in Cache-Control too).
const day = 86_400;
const cdnSeconds = (max: number) => z.string().regex(/^\d+$/, 'expected whole seconds').transform(Number).pipe(z.number().int().min(1).max(max));
const cdnEnvSchema = z.object({
  AIDIARY_CDN_TTL_SECONDS: cdnSeconds(365 * day).default(String(day)),
  AIDIARY_CDN_STALE_IF_ERROR_SECONDS: cdnSeconds(365 * day).default(String(day)),
});

function cdnPolicy(env: Env): CdnCachePolicy {
  const given = (name: keyof z.input<typeof cdnEnvSchema>) => (env[name] === '' ? undefined : env[name]);
  const parsed = cdnEnvSchema.safeParse({
    AIDIARY_CDN_TTL_SECONDS: given('AIDIARY_CDN_TTL_SECONDS'),
    AIDIARY_CDN_STALE_IF_ERROR_SECONDS: given('AIDIARY_CDN_STALE_IF_ERROR_SECONDS'),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue.path[0]);
    throw new ConfigError(`${name}: ${issue.message}, got "${env[name]}"; set whole seconds from 1 to ${365 * day}, e.g. ${day}`);
  }
  return { ttlSeconds: parsed.data.AIDIARY_CDN_TTL_SECONDS, staleIfErrorSeconds: parsed.data.AIDIARY_CDN_STALE_IF_ERROR_SECONDS };
}

const nameSchema = z.string().regex(/^[a-z][a-z0-9-]*$/);

export function loadConfig(env: Env = process.env): AppConfig {
  const appName = env.AIDIARY_APP_NAME ?? 'app-0';
  if (!nameSchema.safeParse(appName).success) throw new ConfigError(`AIDIARY_APP_NAME: expected a name like app-0, got "${appName}"`);

  const nodes = env.AIDIARY_DB_NODES ? parseDbNodes(env.AIDIARY_DB_NODES) : null;
  const primaryService = env.AIDIARY_DB_PRIMARY_SERVICE ? hostPort('AIDIARY_DB_PRIMARY_SERVICE', env.AIDIARY_DB_PRIMARY_SERVICE) : null;
  const readService = env.AIDIARY_DB_READ_SERVICE ? hostPort('AIDIARY_DB_READ_SERVICE', env.AIDIARY_DB_READ_SERVICE) : null;
  if (nodes && primaryService) throw new ConfigError('AIDIARY_DB_NODES and AIDIARY_DB_PRIMARY_SERVICE are both set; keep one');
  if (!nodes && !primaryService) throw new ConfigError('AIDIARY_DB_NODES: missing; set it (pg-0@host:port,…) or AIDIARY_DB_PRIMARY_SERVICE');
  if (nodes && nodes.length === 0) throw new ConfigError('AIDIARY_DB_NODES: empty; list at least one node');

  if (env.AIDIARY_TRUST_PROXY !== undefined) {
    throw new ConfigError('AIDIARY_TRUST_PROXY: no longer read (trusting every hop let a client write its own address); list the edge in AIDIARY_TRUSTED_EDGE, e.g. 127.0.0.1');
  }
  const trustedEdge = addressList(env, 'AIDIARY_TRUSTED_EDGE');
  const port = int(env, 'AIDIARY_PORT', 3000, 0);

  const redisSessions = redisEndpoint(env, 'SESSIONS', 'redis://127.0.0.1:6380');
  const redisCache = redisEndpoint(env, 'CACHE', 'redis://127.0.0.1:6381');
  const sessionSecret = secret(env, 'AIDIARY_SESSION_SECRET', true)!;
  if (sessionSecret.length < 32) throw new ConfigError('AIDIARY_SESSION_SECRET: must be at least 32 characters; generate one with `openssl rand -hex 32`');

  return {
    appName,
    host: env.AIDIARY_HOST ?? '127.0.0.1',
    port,
    dbNodes: nodes,
    dbPrimaryService: primaryService,
    dbReadService: readService,
    dbName: env.AIDIARY_DB_NAME ?? 'aidiary',
    dbUser: env.AIDIARY_DB_USER ?? 'aidiary',
    dbPassword: secret(env, 'AIDIARY_DB_PASSWORD', true)!,
    dbPoolSize: int(env, 'AIDIARY_DB_POOL_SIZE', 10, 1),
    dbMaxLagBytes: int(env, 'AIDIARY_DB_MAX_LAG_BYTES', 16 * 1024 * 1024),
    dbMaxLagMs: int(env, 'AIDIARY_DB_MAX_LAG_MS', 1000),
    redisSessionsUrl: redisSessions.url,
    redisCacheUrl: redisCache.url,
    redisSessionsAuth: redisSessions.auth,
    redisCacheAuth: redisCache.auth,
    sessionSecret,
    adminPassword: secret(env, 'AIDIARY_ADMIN_PASSWORD', false),
    keepAliveTimeoutMs: int(env, 'AIDIARY_KEEPALIVE_TIMEOUT_MS', 65000, 1000),
    drainMs: int(env, 'AIDIARY_DRAIN_MS', 1000),
    trustedEdge,
    trustProxy: trustedEdge.length > 0,
    siteUrl: origin(env, 'AIDIARY_SITE_URL', `http://127.0.0.1:${port}`),
    login: {
      maxAttemptsPerAddress: int(env, 'AIDIARY_LOGIN_MAX_PER_ADDRESS', 50, 1),
      addressWindowSeconds: int(env, 'AIDIARY_LOGIN_ADDRESS_WINDOW_SECONDS', 300, 1),
      backoffCapSeconds: int(env, 'AIDIARY_LOGIN_BACKOFF_CAP_SECONDS', 30, 1),
    },
    cache: {
      l1: flag(env, 'AIDIARY_CACHE_L1', true),
      l2: flag(env, 'AIDIARY_CACHE_L2', true),
      l1MaxBytes: int(env, 'AIDIARY_CACHE_L1_MAX_BYTES', 64 * 1024 * 1024, 1024 * 1024),
      l1TtlSeconds: int(env, 'AIDIARY_CACHE_L1_TTL_SECONDS', 60, 1),
      l2TtlSeconds: int(env, 'AIDIARY_CACHE_L2_TTL_SECONDS', 300, 1),
      staleWhileRevalidateSeconds: int(env, 'AIDIARY_CACHE_SWR_SECONDS', 10),
    },
    logLevel: env.AIDIARY_LOG_LEVEL ?? 'info',
    controlPort: int(env, 'AIDIARY_CONTROL_PORT', 0),
    maxUploadPixels: int(env, 'AIDIARY_MAX_UPLOAD_PIXELS', 40_000_000, 1),
    cdn: cdnPolicy(env),
  };
}
