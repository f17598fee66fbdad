import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ProgramRun } from '../infra/pulumi-harness';
import { runProd, runStaging } from '../infra/stack-fixtures';
import { CnpgEmulation } from './replay/data-tier';
import { databaseState, replicationState } from './replay/database-check';
import type { DeclaredWorkload } from './replay/declared-workloads';
import { dockerWorkloads } from './replay/docker-workloads';
import { parseDockerfile } from './replay/dockerfile';
import { ImageAssembly, type ImageConfig } from './replay/image-filesystem';
import { kubernetesWorkloads } from './replay/kubernetes-workloads';
import { verifyLocalization, type LocalWorkload } from './replay/localize';
import { StackReplay } from './replay/replay';
import { adminFormLogin, apiLogin, call, createPost, type Site } from './replay/site-client';
import { probeOnce } from './replay/workload-process';

// The stack replay: each Pulumi stack rendered under the mocks, the images' runtime filesystems
// assembled from the Dockerfile, and every declared workload run on this machine as a process
// with its declared command, arguments, environment and secret files (localize.ts names the only
// differences allowed). It tells whoever changes the Dockerfile, infra/docker/ or
// infra/kubernetes/ whether the stacks still boot and serve. Runs on this machine's Node.js.

const repoRoot = join(import.meta.dirname, '../..');
const tempRoot = mkdtempSync(join(tmpdir(), 'aidiary-replay-'));
chmodSync(tempRoot, 0o755); // workloads run as their declared users and must traverse it
const subnetBase = 16 + Math.floor(Math.random() * 200); // 127.0.<subnet>.x, away from 127.0.0.1

let images: Record<string, ImageConfig>;
let assembly: ImageAssembly;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the stack replay runs each workload as its declared user (and PostgreSQL as postgres): run the tests as root, as .ci/run does');
  const started = Date.now();
  assembly = new ImageAssembly({ dockerfile: join(repoRoot, 'Dockerfile'), context: repoRoot, tempRoot: join(tempRoot, 'images') });
  const [app, edge] = await Promise.all([assembly.target('app'), assembly.target('edge')]);
  images = { app, edge };
  console.log(`stack replay: images assembled in ${((Date.now() - started) / 1000).toFixed(1)} s; RUN steps: ${assembly.steps.map((s) => `${s.stage}:${s.line} ${(s.ms / 1000).toFixed(1)} s`).join(', ')}`);
}, 300_000);

afterAll(() => {
  rmSync(tempRoot, { recursive: true, force: true });
});

/** The stack's admin password output, under whichever name the stack exports it. */
function adminPasswordOutput(run: ProgramRun): { key: string; value: string } {
  const keys = ['initialAdminPassword', 'adminPassword'].filter((k) => run.outputs[k] !== undefined);
  if (keys.length !== 1) throw new Error(`expected the stack to export one admin password output, found ${keys.join(', ') || 'none'}`);
  return { key: keys[0], value: String(run.outputs[keys[0]]) };
}

function selfSignedCertificate(): { certificate: string; key: string } {
  const dir = mkdtempSync(join(tempRoot, 'tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=aidiary.test', '-addext', 'subjectAltName=DNS:aidiary.test',
    '-days', '1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { stdio: 'ignore' });
  return { certificate: readFileSync(join(dir, 'tls.crt'), 'utf8'), key: readFileSync(join(dir, 'tls.key'), 'utf8') };
}

const builtFrom = (w: DeclaredWorkload, target: string) => w.imageConfig?.target === target;
const migrationSteps = (r: StackReplay) => r.locals.filter((l) => builtFrom(l.declared, 'app') && l.declared.kind === 'one-shot');
const apps = (r: StackReplay) => r.locals.filter((l) => builtFrom(l.declared, 'app') && l.declared.kind === 'service');
const edges = (r: StackReplay) => r.locals.filter((l) => builtFrom(l.declared, 'edge'));

interface Rendered {
  run: ProgramRun;
  replay: StackReplay;
  /** Addresses of the PostgreSQL servers: the stack declares one primary, the rest are replicas. */
  postgres: string[];
  tls?: { ca: string };
  /** The public origin the stack was configured with, where it has one. */
  origin?: string;
}

const stacks: { stack: string; appReplicas: number; render(subnet: number): Promise<Rendered> }[] = [
  {
    stack: 'staging',
    appReplicas: 3,
    async render(subnet) {
      const run = await runStaging(this.appReplicas, 2);
      const workloads = dockerWorkloads(run, images, 'staging');
      const replay = new StackReplay({
        stack: 'staging', workloads, clusters: [], virtualIpServices: [],
        resources: run.resources, root: join(tempRoot, 'staging'), subnet,
      });
      const postgres = workloads.filter((w) => w.base.repository === 'postgres' && w.kind === 'service').map((w) => replay.plan.addresses.get(w.name)!);
      return { run, replay, postgres };
    },
  },
  {
    stack: 'prod',
    appReplicas: 2,
    async render(subnet) {
      const tls = selfSignedCertificate();
      const appImage = 'replay.example/aidiary-app:replay';
      const edgeImage = 'replay.example/aidiary-edge:replay';
      const origin = 'https://aidiary.test';
      const run = await runProd(this.appReplicas, 1, { appImage, edgeImage, siteUrl: origin, tlsCertificate: tls.certificate, tlsPrivateKey: tls.key });
      const k = kubernetesWorkloads(run, images, { [appImage]: 'app', [edgeImage]: 'edge' }, 'prod');
      const replay = new StackReplay({
        stack: 'prod', workloads: k.workloads, clusters: k.clusters, virtualIpServices: k.virtualIpServices,
        resources: run.resources, root: join(tempRoot, 'prod'), subnet,
      });
      const postgres = k.clusters.flatMap((c) => CnpgEmulation.podNames(c)).map((p) => replay.plan.addresses.get(p)!);
      return { run, replay, postgres, tls: { ca: tls.certificate }, origin };
    },
  },
];

describe.each(stacks.map((s, i) => ({ ...s, subnet: subnetBase + i })))('$stack stack, replayed on this machine', ({ stack, appReplicas, subnet }) => {
  let r: Rendered;
  let booted = false;
  let site: Site;
  let firstMigration: Awaited<ReturnType<typeof databaseState>>;
  const requireBoot = () => expect(booted, `${stack} did not boot: see the first failing test`).toBe(true);
  /** Runs a check through the edge; a failure carries the edge's and the apps' last output. */
  const throughEdge = async (check: () => Promise<void>) => {
    try {
      await check();
    } catch (err) {
      (err as Error).message += `\n last output of the edge and the apps:\n${r.replay.tails([...edges(r.replay), ...apps(r.replay)].map((l) => l.name))}`;
      throw err;
    }
  };

  beforeAll(async () => {
    r = await stacks.find((x) => x.stack === stack)!.render(subnet);
  }, 120_000);

  afterAll(async () => {
    await r?.replay.stop();
  }, 120_000);

  test('every workload differs from its declaration only by the allowed rules', () => {
    expect(migrationSteps(r.replay).length, 'a migration step').toBeGreaterThan(0);
    expect(apps(r.replay), 'app workloads').toHaveLength(appReplicas);
    expect(edges(r.replay).length, 'edge workloads').toBeGreaterThan(0);
    for (const l of r.replay.locals) verifyLocalization(l.declared, l, r.replay.plan);
  });

  test('boots every declared workload in the declared order (one-shots exit 0, services pass their readiness probe)', async () => {
    const started = Date.now();
    await r.replay.boot();
    booted = true;
    const edge = edges(r.replay)[0];
    const port = edge.declared.ports[0];
    expect(port, `${edge.name} declares no container port`).toBeTruthy();
    const conf = edge.files.find((f) => f.containerPath.endsWith('nginx.conf'))!.content;
    // Clients reach the edge by the site's public name: its Host header and TLS name.
    const origin = apps(r.replay)[0].declared.env.AIDIARY_SITE_URL ?? r.origin;
    site = { base: `${/listen \S+ ssl;/.test(conf) ? 'https' : 'http'}://${edge.address}:${port}`, origin, tls: r.tls };
    console.log(`stack replay ${stack}: ${r.replay.locals.length} workloads${r.replay.plan.stack === 'prod' ? ' + the emulated CloudNativePG cluster' : ''} booted in ${((Date.now() - started) / 1000).toFixed(1)} s; edge ${site.base}${origin ? ` as ${origin}` : ''}`);
  }, 300_000);

  test('PostgreSQL runs a primary and as many streaming replicas as the stack declares', async () => {
    requireBoot();
    const state = await replicationState(migrationSteps(r.replay)[0], r.postgres);
    expect(state.primaries, JSON.stringify(state)).toHaveLength(1);
    expect(state.behind, JSON.stringify(state)).toEqual([]);
    expect(state.streaming.length, JSON.stringify(state)).toBe(r.postgres.length - 1);
    expect(state.streaming.length).toBeGreaterThan(0);
  });

  test('the migration step exits 0 and leaves the schema and the admin account', async () => {
    requireBoot();
    const [step] = migrationSteps(r.replay);
    const result = r.replay.oneShots.get(step.name)!;
    const ran = `${step.name} ${result.status} in ${result.ms} ms; its output: ${result.output.trim() ? `\n${result.output}` : '(none)'}`;
    expect(result.code, ran).toBe(0);
    firstMigration = await databaseState(step);
    const shipped = readdirSync(join(images.app.root, images.app.workdir, 'app/db/migrations')).filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, '')).sort();
    expect(firstMigration.migrations.map((m) => m.name), `migrations recorded in pgmigrations after ${ran}`).toEqual(shipped);
    expect(firstMigration.admin, `users named admin after ${ran}`).toHaveLength(1);
    expect(firstMigration.admin[0].role).toBe('admin');
  });

  test('every app passes the readiness probe the stack declares, on the declared port and path', async () => {
    requireBoot();
    for (const app of apps(r.replay)) {
      expect(app.probe, `${app.name} declares no readiness probe`).not.toBeNull();
      const result = await probeOnce(app, app.probe!);
      expect(result.ok, `${app.name}: ${result.detail}`).toBe(true);
      // The probe reached this app, not another process: its own address after mapping.
      expect(result.detail).toContain(app.address);
    }
  });

  test('admin login works with the stack\'s admin password output', async () => {
    requireBoot();
    await throughEdge(async () => {
      const password = adminPasswordOutput(r.run);
      const { dashboard } = await adminFormLogin(site, 'admin', password.value);
      expect(dashboard.status, `GET /admin after login with output ${password.key}: ${dashboard.body.slice(0, 300)}`).toBe(200);
      expect(dashboard.body).toContain('Log out');
    });
  });

  let post: { id: number; slug: string; url: string; title: string };

  test('a post created through the API is read back at once by its writer', async () => {
    requireBoot();
    await throughEdge(async () => {
      const session = await apiLogin(site, 'admin', adminPasswordOutput(r.run).value);
      const title = `Replayed on ${stack} ${Date.now()}`;
      const created = await createPost(site, session, { title, content: `Written through the ${stack} edge.` });
      post = { ...created, title };
      const readBack = await call(site, 'GET', `/api/posts/${created.id}`, { headers: { cookie: session.cookie } });
      expect(readBack.status, readBack.body).toBe(200);
      expect(JSON.parse(readBack.body)).toMatchObject({ id: created.id, title, status: 'published' });
      const page = await call(site, 'GET', created.url, { headers: { cookie: session.cookie } });
      expect(page.status, page.body.slice(0, 300)).toBe(200);
      expect(page.body).toContain(title);
    });
  });

  test('the home page and the post answer 200 through the edge', async () => {
    requireBoot();
    await throughEdge(async () => {
      const home = await call(site, 'GET', '/');
      expect(home.status, home.body.slice(0, 300)).toBe(200);
      expect(post, 'the post of the previous test').toBeDefined();
      const page = await call(site, 'GET', post.url);
      expect(page.status, page.body.slice(0, 300)).toBe(200);
      expect(page.body).toContain(post.title);
      expect(apps(r.replay).map((a) => a.name)).toContain(page.headers['x-served-by']);
    });
  });

  test('a second run of the migration step changes nothing', async () => {
    requireBoot();
    expect(firstMigration, 'the first run\'s state').toBeDefined();
    const [step] = migrationSteps(r.replay);
    const before = await databaseState(step);
    const again = await r.replay.runOneShot(step);
    expect(again.code, `${step.name} again: ${again.status}\n${again.output}`).toBe(0);
    const after = await databaseState(step);
    expect(after).toEqual(before);
    expect(after.migrations).toEqual(firstMigration.migrations);
    // Only meaningful over a complete first run: the schema and the admin row are there.
    expect(after.migrations.length, 'migrations recorded').toBeGreaterThan(0);
    expect(after.admin, 'the admin account').toHaveLength(1);
  });
});

describe('a typo in a declaration fails the replay', () => {
  // One workload at a time, without the data tier: each typo stops it before it connects anywhere.
  let n = 0;
  async function bootOnly(stack: string, run: ProgramRun, workloads: DeclaredWorkload[]): Promise<StackReplay> {
    n += 1;
    return new StackReplay({ stack, workloads, clusters: [], virtualIpServices: [], resources: run.resources, root: join(tempRoot, `typo-${n}`), subnet: subnetBase + 2 + n });
  }
  async function expectBootFailure(replay: StackReplay, pattern: RegExp): Promise<string> {
    try {
      let message = '';
      await replay.boot().catch((err: Error) => { message = err.message; });
      expect(message, 'the replay booted although the declaration has a typo').toMatch(pattern);
      return message;
    } finally {
      await replay.stop();
    }
  }
  const container = (run: ProgramRun, hostnameOrName: string) => run.byType('docker:index/container:Container').find((c) => (c.inputs.hostname ?? c.name) === hostnameOrName)!;
  const k8s = (run: ProgramRun, type: string, nameStart: string) => run.byType(type).find((x) => x.inputs.metadata.name.startsWith(nameStart))!;

  test('an env name typo: the app exits non-zero naming the missing variable', async () => {
    const run = await runStaging(1, 1);
    const app = container(run, 'app-0');
    app.inputs.envs = app.inputs.envs.map((e: string) => e.replace(/^AIDIARY_DB_PASSWORD_FILE=/, 'AIDIARY_DB_PASWORD_FILE='));
    const declared = dockerWorkloads(run, images, 'staging').filter((w) => w.name === 'app-0');
    const message = await expectBootFailure(await bootOnly('staging', run, declared), /app-0 .*keep running[\s\S]*exited with code 1[\s\S]*AIDIARY_DB_PASSWORD: missing/);
    console.log(`env name typo → ${message.split('\n')[0]}`);
  }, 60_000);

  test('a secret path typo: the file is not provided and the app says which', async () => {
    const run = await runProd(1, 1, { appImage: 'replay.example/app:typo', edgeImage: 'replay.example/edge:typo', siteUrl: 'https://aidiary.test' });
    const deployment = k8s(run, 'kubernetes:apps/v1:Deployment', 'aidiary-prod-app');
    const mount = deployment.inputs.spec.template.spec.containers[0].volumeMounts.find((m: { name: string }) => m.name === 'secrets');
    mount.mountPath = mount.mountPath.replace('/secrets/', '/secret/');
    const declared = kubernetesWorkloads(run, images, { 'replay.example/app:typo': 'app', 'replay.example/edge:typo': 'edge' }, 'prod').workloads.filter((w) => w.source.includes('aidiary-prod-app'));
    await expectBootFailure(await bootOnly('prod', run, declared), /keep running[\s\S]*AIDIARY_\w+_FILE: cannot read "[^"]*\/var\/run\/secrets\/aidiary\/[\w-]+" \(ENOENT\)/);
  }, 60_000);

  test('a command typo: the one-shot fails (unknown program, unknown file, unknown subcommand)', async () => {
    const run = await runProd(1, 1, { appImage: 'replay.example/app:typo', edgeImage: 'replay.example/edge:typo', siteUrl: 'https://aidiary.test' });
    const job = k8s(run, 'kubernetes:batch/v1:Job', 'aidiary-prod-migrate');
    const declare = () => kubernetesWorkloads(run, images, { 'replay.example/app:typo': 'app', 'replay.example/edge:typo': 'edge' }, 'prod').workloads.filter((w) => w.kind === 'one-shot');
    const command = job.inputs.spec.template.spec.containers[0].command as string[];
    const cases: [string[], RegExp][] = [
      [['nodee', ...command.slice(1)], /one-shot to exit 0[\s\S]*could not start `nodee`: spawn nodee (ENOENT|EACCES)/],
      [[command[0], command[1].replace('.mjs', '.js'), ...command.slice(2)], /one-shot to exit 0; exited with code 1[\s\S]*Cannot find module/],
      [[...command.slice(0, -1), `${command[command.length - 1]}x`], /one-shot to exit 0; exited with code [12][\s\S]*unknown command/],
    ];
    for (const [typo, pattern] of cases) {
      job.inputs.spec.template.spec.containers[0].command = typo;
      await expectBootFailure(await bootOnly('prod', run, declare()), pattern);
    }
  }, 60_000);

  test('the Dockerfile parser refuses what it does not interpret, naming the line', () => {
    const parse = (body: string) => () => parseDockerfile('Dockerfile', `FROM node:20 AS app\n${body}\n`);
    expect(parse('ADD https://example.invalid/x.tgz /x')).toThrow(/Dockerfile:2: ADD is not interpreted/);
    expect(parse('RUN --mount=type=cache,target=/root/.npm npm ci')).toThrow(/Dockerfile:2: RUN in JSON form or with flags/);
    expect(parse('CMD node dist/app.mjs')).toThrow(/Dockerfile:2: CMD in shell form/);
    expect(parse('COPY --chown=node:node app ./app')).toThrow(/Dockerfile:2: COPY --chown=node:node is not interpreted/);
    expect(parse('HEALTHCHECK CMD true')).toThrow(/Dockerfile:2: HEALTHCHECK is not interpreted/);
    expect(parseDockerfile(join(repoRoot, 'Dockerfile')).stages.map((x) => x.name)).toEqual(expect.arrayContaining(['app', 'edge']));
  });

  test('the comparison refuses any other difference from the declaration', async () => {
    const run = await runStaging(1, 1);
    const replay = await bootOnly('staging', run, dockerWorkloads(run, images, 'staging'));
    const app = replay.local('app-0');
    const copy = (l: LocalWorkload): LocalWorkload => ({ ...JSON.parse(JSON.stringify({ ...l, declared: null })), declared: l.declared });
    const tamper = (change: (l: LocalWorkload) => LocalWorkload) => () => verifyLocalization(app.declared, change(copy(app)), replay.plan);
    expect(tamper((l) => l)).not.toThrow();
    expect(tamper((l) => ({ ...l, env: { ...l.env, AIDIARY_EXTRA: '1' } }))).toThrow(/env: expected/);
    expect(tamper((l) => ({ ...l, argv: [...l.argv, '--inspect'] }))).toThrow(/argv: expected/);
    expect(tamper((l) => ({ ...l, files: l.files.map((f) => ({ ...f, mode: 0o644 })) }))).toThrow(/files: expected/);
    expect(tamper((l) => ({ ...l, user: { uid: 0, gid: 0 } }))).toThrow(/user: expected/);
    // An edit whose rule does not allow it: a service name sent to another workload's address.
    expect(tamper((l) => {
      const e = l.edits.find((x) => x.rule === 'service-address')!;
      const wrong = e.to.replace(/127\.0\.\d+\.\d+/, '127.0.0.99');
      return { ...l, edits: l.edits.map((x) => (x === e ? { ...x, to: wrong } : x)) };
    })).toThrow(/not allowed by rule service-address/);
    await replay.stop();
  });
});
