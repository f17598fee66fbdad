import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { randomUUID } from 'node:crypto';

// A user of the replayed site, through its edge: pages, the admin login form, the JSON API
// (login, CSRF header, Idempotency-Key). HTTPS is verified against the certificate the test
// generated for the stack.

/**
 * `base`: the edge's local address. `origin`: the site's public origin (its Host header and TLS
 * name), as a client that resolved the site's name to this edge would send it.
 */
export interface Site { base: string; origin?: string; tls?: { ca: string } }
export interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

export function call(site: Site, method: string, path: string, opts: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const url = new URL(path, site.base);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const origin = site.origin ? new URL(site.origin) : null;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method,
      agent: false,
      timeout: 15_000,
      headers: { ...(origin ? { host: origin.host } : {}), ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers },
      ...(site.tls ? { ca: site.tls.ca, servername: origin?.hostname } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within 15 s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** `name=value` of the Set-Cookie for `name`. */
export function cookie(answer: Answer, name: string): string | null {
  const raw = answer.headers['set-cookie'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const found = list.find((c) => c.startsWith(`${name}=`));
  return found ? found.split(';')[0] : null;
}

/** Status plus the body's text (an HTML error page without its markup), for failure messages. */
export function describeAnswer(a: Answer): string {
  const text = a.body.replace(/<(script|style|head)[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
  return `${a.status} ${text.slice(0, 400)}`;
}
const describe = describeAnswer;

/** The /admin login form as a browser submits it; returns the session cookie and the dashboard. */
export async function adminFormLogin(site: Site, username: string, password: string): Promise<{ session: string; dashboard: Answer }> {
  const form = await call(site, 'GET', '/admin/login');
  if (form.status !== 200) throw new Error(`GET /admin/login: ${describe(form)}`);
  const token = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1];
  const loginCookie = cookie(form, 'aidiary_login_csrf');
  if (!token || !loginCookie) throw new Error('GET /admin/login: no login token (hidden _csrf field and cookie)');
  const body = new URLSearchParams({ _csrf: token, redirect: '/admin', username, password }).toString();
  const posted = await call(site, 'POST', '/admin/login', { headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie }, body });
  const session = cookie(posted, 'aidiary_session');
  if (posted.status !== 303 || !session) throw new Error(`POST /admin/login as ${username}: ${describe(posted)}`);
  // Follow the redirects a browser would (the landing page may redirect once more).
  let dashboard = posted;
  for (let hops = 0; hops < 5 && dashboard.status >= 300 && dashboard.status < 400; hops++) {
    const location = new URL(String(dashboard.headers.location), site.origin ?? site.base);
    dashboard = await call(site, 'GET', `${location.pathname}${location.search}`, { headers: { cookie: session } });
  }
  return { session, dashboard };
}

export interface ApiSession { cookie: string; csrf: string }

export async function apiLogin(site: Site, username: string, password: string): Promise<ApiSession> {
  const res = await call(site, 'POST', '/api/auth/login', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  const c = cookie(res, 'aidiary_session');
  if (res.status !== 200 || !c) throw new Error(`POST /api/auth/login as ${username}: ${describe(res)}`);
  return { cookie: c, csrf: (JSON.parse(res.body) as { csrfToken: string }).csrfToken };
}

export async function createPost(site: Site, s: ApiSession, post: { title: string; content: string }): Promise<{ id: number; slug: string; url: string; answer: Answer }> {
  const answer = await call(site, 'POST', '/api/posts', {
    headers: { 'content-type': 'application/json', cookie: s.cookie, 'x-csrf-token': s.csrf, 'idempotency-key': randomUUID() },
    body: JSON.stringify({ ...post, status: 'published' }),
  });
  if (answer.status !== 201) throw new Error(`POST /api/posts: ${describe(answer)}`);
  return { ...(JSON.parse(answer.body) as { id: number; slug: string; url: string }), answer };
}
