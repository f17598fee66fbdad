import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { LoggedIn } from './auth-test-helpers';

// Posting admin forms as a logged-in user (the session's CSRF token in `_csrf`, as the pages do).

export const formBody = (fields: Record<string, string | string[]>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
  return p.toString();
};

export function postForm(app: FastifyInstance, who: LoggedIn, url: string, fields: Record<string, string | string[]> = {}): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: who.cookie },
    payload: formBody({ _csrf: who.csrf, ...fields }),
  });
}

export function getPage(app: FastifyInstance, who: LoggedIn, url: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url, headers: { cookie: who.cookie } });
}

/**
 * The sessions Redis clients (store and login limiter) connect in the background: wait until the
 * store is ready, plus a moment for the limiter's client, which started connecting with it.
 */
export async function waitForSessions(deps: { sessions: { isAvailable(): boolean } }, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!deps.sessions.isAvailable()) {
    if (Date.now() > deadline) throw new Error('the sessions Redis did not become ready');
    await new Promise((r) => setTimeout(r, 25));
  }
  await new Promise((r) => setTimeout(r, 200));
}
