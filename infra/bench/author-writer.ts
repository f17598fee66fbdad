// read-write's author: logs in through the load balancer like a real editor, then every second
// publishes a post and edits the previous one, recording every write's status and latency. Each
// write invalidates the home page, listings and the post (the purge set), so the read mix sees
// real invalidation traffic. Created posts are moved to the trash afterwards.

export interface WriterReport {
  writes: number;
  non2xx: number;
  failures: string[];
  latencyMs: { mean: number; max: number };
}

interface Session { cookie: string; csrfToken: string }

async function login(baseUrl: string, username: string, password: string): Promise<Session> {
  const res = await fetch(`${baseUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json().catch(() => null)) as { csrfToken?: string } | null;
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('aidiary_session='));
  if (res.status !== 200 || !cookie || !body?.csrfToken) throw new Error(`author login as ${username} failed: ${res.status}`);
  return { cookie, csrfToken: body.csrfToken };
}

export interface AuthorWriter { stop(): Promise<WriterReport> }

export async function startAuthorWriter(baseUrl: string, author: { username: string; password: string }, intervalMs = 1000): Promise<AuthorWriter> {
  const session = await login(baseUrl, author.username, author.password);
  const headers = { 'content-type': 'application/json', cookie: session.cookie, 'x-csrf-token': session.csrfToken };
  const report: WriterReport = { writes: 0, non2xx: 0, failures: [], latencyMs: { mean: 0, max: 0 } };
  const created: number[] = [];
  let totalMs = 0;
  let seq = 0;

  const write = async (method: string, path: string, body: unknown): Promise<unknown> => {
    const started = performance.now();
    try {
      const res = await fetch(`${baseUrl}${path}`, { method, headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
      const json = await res.json().catch(() => null);
      const took = performance.now() - started;
      report.writes++;
      totalMs += took;
      report.latencyMs.max = Math.max(report.latencyMs.max, Math.round(took * 10) / 10);
      if (res.status < 200 || res.status >= 300) {
        report.non2xx++;
        if (report.failures.length < 10) report.failures.push(`${method} ${path}: ${res.status}`);
      }
      return json;
    } catch (err) {
      report.writes++;
      report.non2xx++;
      if (report.failures.length < 10) report.failures.push(`${method} ${path}: ${(err as Error).message}`);
      return null;
    }
  };

  const tick = async () => {
    seq++;
    const stamp = new Date().toISOString();
    const made = (await write('POST', '/api/posts', {
      title: `Bench post ${seq} (${stamp})`,
      content: `Written by \`aidiary bench\` read-write at ${stamp}.\n\nA paragraph of body text.`,
      status: 'published',
    })) as { id?: number } | null;
    if (typeof made?.id === 'number') created.push(made.id);
    const previous = created.at(-2);
    if (previous !== undefined) await write('PATCH', `/api/posts/${previous}`, { content: `Edited by \`aidiary bench\` at ${stamp}.` });
  };

  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      await tick();
      const wait = intervalMs - (Date.now() - started);
      if (wait > 0 && running) await new Promise((r) => setTimeout(r, wait));
    }
  })();

  return {
    async stop() {
      running = false;
      await loop;
      report.latencyMs.mean = report.writes > 0 ? Math.round((totalMs / report.writes) * 10) / 10 : 0;
      // Best effort: keep the demo site clean; a failure here does not change the measurement.
      await Promise.all(created.map((id) => fetch(`${baseUrl}/api/posts/${id}`, { method: 'DELETE', headers: { cookie: session.cookie, 'x-csrf-token': session.csrfToken }, signal: AbortSignal.timeout(10_000) }).catch(() => null)));
      return report;
    },
  };
}
