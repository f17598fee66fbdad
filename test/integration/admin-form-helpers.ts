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
