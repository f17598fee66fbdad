import { createServer } from 'node:http';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AppDeps } from './deps';
import { HttpError, errorCatalog, type ErrorCode } from './errors';
import { createRequestRecorder } from './request-record';
import { requestIdOf } from './request-id';
import { createHotPath, healthStatus, type HotPath } from './hot-path';
import { registerSessionPlugin } from './session/plugin';
import { registerPublicRoutes } from './routes/public/index';
import { publicContext } from './routes/public/public-context';
import { errorOutput } from './routes/public/not-found';
import { setAnonymousCaching } from './routes/public/serve-page';
import { registerApiRoutes } from './routes/api/index';
import { registerAdminRoutes } from './routes/admin/index';
import { registerBoundedJsonParser } from './routes/json-body';
import { securityHeaders } from './routes/security-headers';
import { memoizedByAddress, trustedEdgeCheck } from './trusted-edge';
import { shouldInjectError } from './fault-injection';

// buildServer(deps): the whole HTTP surface, no environment reads and no listening (main.ts
// listens; tests use inject()). Every response carries X-Served-By; errors come from the catalog
// in app/errors.ts as `{error:{code,message}}` under /api and the themed error page elsewhere;
// stack traces never leave the process.

const drainingApps = new WeakSet<FastifyInstance>();

/** Readiness off: /health/ready answers 503 so the load balancer stops sending new requests. */
export function startDraining(app: FastifyInstance): void {
  drainingApps.add(app);
}

export function isDraining(app: FastifyInstance): boolean {
  return drainingApps.has(app);
}

/** The readiness check's own deadline on its database probe; probes of /health/ready must wait longer. */
export const readinessTimeoutMs = 1500;

/** pg/network errors that mean "the database is unreachable right now" (→ 503, not 500). */
function isDbUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|53300)$/.test(code) || /^(08|57P)/.test(code))) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /timeout exceeded when trying to connect|Connection terminated|no (usable|reachable) (database|db|node)/i.test(message)) return true;
  }
  return false;
}

/** Any thrown value → the catalog entry a client sees (and whether it is our fault). */
export function classifyError(err: unknown): { status: number; code: ErrorCode; message: string; internal: boolean } {
  if (err instanceof HttpError) return { status: err.status, code: err.code, message: err.message, internal: err.status >= 500 && err.code === 'internal' };
  const fe = err as Partial<FastifyError> & { validationContext?: string };
  if (fe.validation) {
    const body = fe.validationContext === 'body';
    return { status: body ? 422 : 400, code: body ? 'invalid_field' : 'bad_request', message: fe.message ?? errorCatalog.bad_request.message, internal: false };
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return { status: 413, code: 'payload_too_large', message: errorCatalog.payload_too_large.message, internal: false };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return { status: 415, code: 'unsupported_media_type', message: errorCatalog.unsupported_media_type.message, internal: false };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY': return { status: 400, code: 'invalid_json', message: errorCatalog.invalid_json.message, internal: false };
    default: break;
  }
  if (isDbUnavailable(err)) return { status: 503, code: 'db_unavailable', message: errorCatalog.db_unavailable.message, internal: false };
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status === 413) return { status, code: 'payload_too_large', message: errorCatalog.payload_too_large.message, internal: false };
  if (status === 415) return { status, code: 'unsupported_media_type', message: errorCatalog.unsupported_media_type.message, internal: false };
  if (status >= 400 && status < 500) {
    // Fastify's own 4xx (bad JSON, proto poisoning, bad URL…): its message is safe and useful.
    const code: ErrorCode = status === 404 ? 'not_found' : status === 401 ? 'unauthenticated' : status === 403 ? 'forbidden' : 'bad_request';
    return { status: status === 404 || status === 401 || status === 403 ? status : 400, code, message: fe.message || errorCatalog[code].message, internal: false };
  }
  return { status: 500, code: 'internal', message: errorCatalog.internal.message, internal: true };
}

const wantsJson = (request: FastifyRequest) => request.url.startsWith('/api/') || request.url === '/api';

declare module 'fastify' {
  interface FastifyInstance {
    /** The pages the hot path may answer are remembered through it (app/routes/public/serve-page.ts). */
    hotPath: HotPath;
  }
}

export async function buildServer(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  // Only the edge may speak for the client: request.ip / request.protocol come from
  // X-Forwarded-For / -Proto when the TCP peer is in AIDIARY_TRUSTED_EDGE (nginx overwrites both),
  // else from the socket. The login limits and logs key on that address.
  const fromEdge = memoizedByAddress(trustedEdgeCheck(config.trustedEdge));
  const record = createRequestRecorder(deps);
  // /health and fresh L1 page hits are answered before fastify (app/hot-path.ts).
  const hotPath = createHotPath({ config, pageCache: deps.pageCache, fromEdge, record, isDraining: () => isDraining(app) });
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger,
    serverFactory: (handler) => createServer((req, res) => {
      if (!hotPath.serve(req, res)) handler(req, res);
    }),
    trustProxy: config.trustedEdge.length > 0 ? (address: string) => fromEdge(address) : false,
    bodyLimit: 1024 * 1024,
    // A draining app finishes every request it still receives, with Connection: close (fastify
    // sets it once close() began; the onSend hook below does it during the drain delay). Fastify's
    // default 503 here would look to nginx like the app's own by-design 503 (session store down),
    // which nginx must not retry or count against the app; nginx retries on the connect error
    // once the listener is closed instead.
    return503OnClosing: false,
    // Unicode slugs are percent-encoded: up to 9 bytes of URL per character.
    routerOptions: { maxParamLength: 1500, ignoreTrailingSlash: false },
    // One log line per request (the onResponse hook below) instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req) => requestIdOf(req, fromEdge),
  }) as unknown as FastifyInstance;
  app.decorate('hotPath', hotPath);

  // JSON bodies: depth-checked before parsing (app/routes/json-body.ts); size: bodyLimit above.
  registerBoundedJsonParser(app);

  // The hooks on every request are callback-style (no promise and microtask per hook) and do no
  // work an anonymous request does not need; the security headers are one pre-built object.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('X-Served-By', config.appName);
    reply.header('X-Request-Id', request.id);
    reply.headers(securityHeaders);
    // Set only through the loopback control port (app/fault-injection.ts), for the alert tests.
    if (shouldInjectError(request.url)) {
      reply.code(500).send({ error: { code: 'injected_fault', message: 'error injected through the control port' } });
      return;
    }
    done();
  });
  // While draining, every response closes its connection: a keep-alive socket that finishes an
  // in-flight request after close() began would otherwise stay open until the client drops it.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (isDraining(app)) reply.header('Connection', 'close');
    done(null, payload);
  });
  // The request's one log line and latency sample (app/request-record.ts).
  app.addHook('onResponse', (request, reply, done) => {
    record({
      reqId: request.id, method: request.method, url: request.url, statusCode: reply.statusCode, elapsedMs: reply.elapsedTime,
      cache: reply.getHeader('x-cache'), remoteAddress: request.ip, route: request.routeOptions.url ?? 'unmatched',
    });
    done();
  });

  // Liveness: no I/O at all (answered by the hot path; this route serves inject() and HEAD).
  app.get('/health', async (_request, reply) => {
    reply.header('Cache-Control', 'no-store');
    return healthStatus(config.appName);
  });

  // Readiness: can serve reads (a DB node reachable) and not draining. Redis is not consulted:
  // without it public pages still serve (invariant 7), so it must not take the pod out.
  app.get('/health/ready', async (_request, reply) => {
    reply.header('Cache-Control', 'no-store');
    if (isDraining(app)) return reply.code(503).send({ status: 'draining', app: config.appName });
    const ok = await Promise.race([
      deps.db.canServeReads().catch(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(false), readinessTimeoutMs).unref()),
    ]);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unready', app: config.appName, db: ok });
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('Cache-Control', 'no-store').type(deps.metrics.contentType);
    return deps.metrics.metrics();
  });

  const { theme, settings } = publicContext(app, deps);

  const sendError = (request: FastifyRequest, reply: FastifyReply, status: number, code: ErrorCode, message: string) => {
    if (reply.sent) return reply;
    reply.code(status);
    if (status === 503) reply.header('Retry-After', '2');
    if (!request.session) {
      if (status === 404) setAnonymousCaching(reply, config.cdn);
      else reply.header('Cache-Control', 'no-store');
    }
    if (wantsJson(request)) return reply.type('application/json; charset=utf-8').send({ error: { code, message } });
    const heading = status >= 500 ? 'エラー / Error' : 'リクエストを処理できません / Request not processed';
    const out = errorOutput(theme, settings.get(), status, heading, message);
    return reply.type('text/html; charset=utf-8').send(out.body);
  };

  app.setErrorHandler(async (err, request, reply) => {
    const c = classifyError(err);
    if (c.internal) request.log.error({ err }, 'unhandled error');
    else if (c.status >= 500) request.log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, c.code);
    return sendError(request, reply, c.status, c.code, c.message);
  });

  app.setNotFoundHandler(async (request, reply) => sendError(request, reply, 404, 'not_found', errorCatalog.not_found.message));

  await registerSessionPlugin(app, deps);
  await registerPublicRoutes(app, deps);
  await registerApiRoutes(app, deps);
  await registerAdminRoutes(app, deps);

  return app;
}
