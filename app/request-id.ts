import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TrustCheck } from './trusted-edge';

// A request's id: the edge's (nginx's $request_id, which overwrites any client's header), so the
// app's log line and nginx's access line join; a header from any other peer is ignored and the
// request gets a fresh UUID. Used by fastify's genReqId and by the hot path (app/hot-path.ts).

const requestIdPattern = /^[A-Za-z0-9._:-]{8,128}$/;

export function requestIdOf(req: IncomingMessage, fromEdge: TrustCheck): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && requestIdPattern.test(given) && fromEdge(req.socket?.remoteAddress) ? given : randomUUID();
}
