import { posix } from 'node:path';
import type { Ids } from './base-images';
import type { DeclaredFile, DeclaredWorkload, Probe } from './declared-workloads';
import { isResolveLine, withoutResolve } from './nginx-static-upstream';
import { isMachinePath, underRoot } from './paths';

// The one place where a replayed workload may differ from its declaration. `localizeWorkload`
// applies the differences this machine forces and records each one as an edit with its rule;
// `verifyLocalization` checks every edit against its rule independently and rebuilds the local
// workload from the declaration plus the edits, so nothing else can differ. The rules:
//   own-address      the workload's wildcard or loopback address (0.0.0.0, *, 127.0.0.1, nginx's
//                    `listen PORT`, a probe's `redis-cli` without -h) → its own 127.0.x.y; ports
//                    stay as declared
//   service-address  a service name in a host position (NAME:PORT, -h NAME, *_HOST=NAME) → the
//                    address of the one workload behind it
//   path             a container path (file, directory, working directory, a path in an env
//                    value, an argument, a script or the nginx config) → under the workload's root;
//                    /dev, /proc, /sys and the OS's /bin, /usr/bin, /lib… are this machine's
//   static-upstream  nginx's `resolver` + `server NAME resolve` → one static server per address
//   network-range    a private address range standing for the container network's addresses
//                    (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7) → 127.0.0.0/8, where the
//                    replay's connections come from (Linux sends loopback traffic from 127.0.0.1)
//   field-ref        Kubernetes fieldRef metadata.name → the pod name
//   machine-path     PATH → this machine's (its node, nginx, psql), plus the stand-ins for the
//                    postgres image's own programs
//   base-entrypoint  a public image's entrypoint script (absent here) → its documented effect
//   socket-dir       PostgreSQL's unix socket directory: the image default, one per node

export type Rule = 'own-address' | 'service-address' | 'path' | 'static-upstream' | 'network-range' | 'field-ref' | 'machine-path' | 'base-entrypoint' | 'socket-dir';

export interface Edit { field: string; rule: Rule; from: string; to: string; name?: string }

export interface Plan {
  stack: string;
  /** Workload roots live under it: <root>/<workload name>. */
  root: string;
  /** Workload name → its loopback address. */
  addresses: Map<string, string>;
  /** Service name → the addresses of the workloads behind it. */
  services: Map<string, string[]>;
  /** Where workloads' connections come from: the loopback network. */
  network: string;
  /** This machine's PATH. */
  machinePath: string;
  /** Directories prepended to PATH for an image's workloads (stand-ins for its own programs). */
  standIns: Record<string, string>;
}

export interface LocalFile extends DeclaredFile { containerPath: string }
export interface LocalDir { path: string; containerPath: string; mode: number; uid: number; gid: number }

export interface LocalWorkload {
  declared: DeclaredWorkload;
  name: string;
  address: string;
  root: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  user: Ids;
  files: LocalFile[];
  dirs: LocalDir[];
  probe: Probe | null;
  /** The image's entrypoint hands the working directory to this user (see base-images.ts). */
  workdirOwner: Ids | null;
  /**
   * Exec probes run as the container's configured user (Docker healthcheck, Kubernetes exec), not
   * the user an entrypoint script switched to.
   */
  probeUser: Ids;
  edits: Edit[];
}

export const rootOf = (plan: Plan, name: string) => posix.join(plan.root, name);
const socketDirArgs = (root: string) => ['-c', `unix_socket_directories=${underRoot(root, '/var/run/postgresql')}`];
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const isShell = (cmd: string) => ['sh', 'bash'].includes(posix.basename(cmd));

export function pathFor(plan: Plan, w: Pick<DeclaredWorkload, 'base'>): string {
  const extra = plan.standIns[w.base.repository];
  return extra ? `${extra}:${plan.machinePath}` : plan.machinePath;
}

/** Applies a field's edits at once (longest match first), so an edited span is never edited again. */
export function applyEdits(value: string, edits: Edit[]): string {
  if (edits.length === 0) return value;
  const to = new Map<string, string>();
  for (const e of edits) {
    if (to.has(e.from) && to.get(e.from) !== e.to) throw new Error(`${e.field}: "${e.from}" edited two ways`);
    to.set(e.from, e.to);
  }
  const froms = [...to.keys()].sort((a, b) => b.length - a.length);
  // A name is replaced only where it is not part of a longer name (pg-1 inside pg-10).
  const re = new RegExp(froms.map((f) => `${/^[\w]/.test(f) ? '(?<![\\w.-])' : ''}${escapeRe(f)}`).join('|'), 'g');
  const out = value.replace(re, (m) => to.get(m)!);
  for (const f of froms) if (!new RegExp(`${/^[\w]/.test(f) ? '(?<![\\w.-])' : ''}${escapeRe(f)}`).test(value)) throw new Error(`edit of "${f}" does not occur in the declared value`);
  return out;
}

// --- finders: where the rules apply in a string -------------------------------------------------

interface Ctx { plan: Plan; w: DeclaredWorkload; address: string; root: string }

function serviceAddress(ctx: Ctx, name: string): string | null {
  const list = ctx.plan.services.get(name);
  if (!list) return null;
  if (list.length !== 1) throw new Error(`${ctx.w.name}: "${name}" stands for ${list.length} workloads; only nginx's upstream may name it`);
  return list[0];
}

// Only the literal loopback address: `localhost` also names the public origin of a published
// port (staging's site URL), which clients, not the container, resolve.
const loopbackNames = ['127.0.0.1'];

/** NAME:PORT occurrences of a service name or the workload's own loopback. */
function hostPortEdits(field: string, value: string, ctx: Ctx): Edit[] {
  const edits: Edit[] = [];
  for (const m of value.matchAll(/(?<![\w.-])([A-Za-z0-9][\w.-]*):(\d+)/g)) {
    const [from, host, port] = m;
    if (loopbackNames.includes(host)) edits.push({ field, rule: 'own-address', from, to: `${ctx.address}:${port}` });
    else {
      const a = serviceAddress(ctx, host);
      if (a) edits.push({ field, rule: 'service-address', from, to: `${a}:${port}`, name: host });
    }
  }
  return edits;
}

/** A whole value that is a host: the wildcard/loopback (own) or a service name. */
function hostValueEdit(field: string, value: string, ctx: Ctx, serviceToo: boolean): Edit | null {
  if (value === '0.0.0.0' || loopbackNames.includes(value)) return { field, rule: 'own-address', from: value, to: ctx.address };
  if (value === 'listen_addresses=*') return { field, rule: 'own-address', from: value, to: `listen_addresses=${ctx.address}` };
  const a = serviceToo ? serviceAddress(ctx, value) : null;
  return a ? { field, rule: 'service-address', from: value, to: a, name: value } : null;
}

/** The private ranges a container network's addresses come from (Docker bridge, pod networks). */
const privateRange = /^(10\.0\.0\.0\/8|172\.16\.0\.0\/12|192\.168\.0\.0\/16|fc00::\/7)$/;

function networkRangeEdits(field: string, value: string, ctx: Ctx): Edit[] {
  return value.split(',').map((t) => t.trim()).filter((t) => privateRange.test(t))
    .map((t) => ({ field, rule: 'network-range' as const, from: t, to: ctx.plan.network }));
}

function pathEdit(field: string, value: string, ctx: Ctx): Edit | null {
  if (!value.startsWith('/') || isMachinePath(value) || /\s/.test(value)) return null;
  return { field, rule: 'path', from: value, to: underRoot(ctx.root, value) };
}

/** A shell script: absolute paths written as words, plus host positions (NAME:PORT, -h NAME). */
function scriptEdits(field: string, text: string, ctx: Ctx): Edit[] {
  const edits = hostPortEdits(field, text, ctx);
  for (const m of text.matchAll(/(?<=^|\s)(-h\s+)([\w.-]+)(?=\s|$)/g)) {
    const e = hostValueEdit(field, m[2], ctx, true);
    if (e) edits.push({ ...e, from: m[0], to: `${m[1]}${e.to}` });
  }
  // `redis-cli` without -h talks to the container's own loopback: name it explicitly.
  if (/(?:^|\s)redis-cli\s(?![^|;&]*-h\s)/.test(text)) edits.push({ field, rule: 'own-address', from: 'redis-cli ', to: `redis-cli -h ${ctx.address} ` });
  for (const m of text.matchAll(/(?<=^|[\s"'=(]|:-)(\/[A-Za-z0-9._-][A-Za-z0-9._/-]*)/gm)) {
    if (text.slice(Math.max(0, m.index! - 2), m.index) === '#!') continue; // the interpreter is this machine's
    const e = pathEdit(field, m[1], ctx);
    if (e) edits.push(e);
  }
  return edits;
}

/** The nginx config: the resolve upstream, the listen addresses and the quoted file paths. */
function nginxEdits(field: string, text: string, ctx: Ctx): Edit[] {
  const edits: Edit[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const nl = i < lines.length - 1 ? '\n' : '';
    if (isResolveLine(line)) {
      edits.push({ field, rule: 'static-upstream', from: `${line}${nl}`, to: withoutResolve(`${line}${nl}`, (h) => ctx.plan.services.get(h) ?? []) });
      return;
    }
    const l = /^(\s*listen )(?:(127\.0\.0\.1|0\.0\.0\.0|\*):)?(\d+)(.*)$/.exec(line);
    if (l) edits.push({ field, rule: 'own-address', from: line, to: `${l[1]}${ctx.address}:${l[3]}${l[4]}` });
  });
  for (const m of text.matchAll(/"(\/[^"]*)"/g)) {
    const e = pathEdit(field, m[1], ctx);
    if (e) edits.push({ ...e, from: `"${e.from}"`, to: `"${e.to}"` });
  }
  return edits;
}

function argvEdits(prefix: string, argv: string[], ctx: Ctx): Edit[] {
  const edits: Edit[] = [];
  argv.forEach((arg, i) => {
    const field = `${prefix}[${i}]`;
    const prev = argv[i - 1];
    if (isShell(argv[0]) && prev === '-c' && i === 2) {
      edits.push(...scriptEdits(field, arg, ctx));
      return;
    }
    const host = hostValueEdit(field, arg, ctx, ['-h', '--host', '--bind'].includes(prev ?? ''));
    if (host) {
      edits.push(host);
      return;
    }
    const p = pathEdit(field, arg, ctx);
    if (p) edits.push(p);
    else edits.push(...hostPortEdits(field, arg, ctx));
  });
  return edits;
}

function contentKind(w: DeclaredWorkload, f: DeclaredFile): 'nginx' | 'script' | null {
  if (w.base.repository === 'nginx' && f.path.endsWith('.conf')) return 'nginx';
  if (f.content.startsWith('#!')) return 'script';
  return null;
}

function applyField(value: string, edits: Edit[], field: string): string {
  return applyEdits(value, edits.filter((e) => e.field === field));
}

/** The local form of a declared workload; every difference is an edit (see the rules above). */
export function localizeWorkload(w: DeclaredWorkload, plan: Plan): LocalWorkload {
  const address = plan.addresses.get(w.name);
  if (!address) throw new Error(`${w.name}: no address in the plan`);
  const root = rootOf(plan, w.name);
  const ctx: Ctx = { plan, w, address, root };
  const edits: Edit[] = [];

  // argv: the image's entrypoint script (not on this machine) by its rule; the socket directory.
  let argv = w.argv;
  let user = w.user;
  let workdirOwner: Ids | null = null;
  const cwdEdit = pathEdit('cwd', w.workdir, ctx);
  if (!cwdEdit) throw new Error(`${w.name}: working directory "${w.workdir}" is not an absolute path`);
  edits.push(cwdEdit);
  if (argv[0] === w.base.entrypoint[0]) {
    const r = w.base.runEntrypoint(argv, { path: pathFor(plan, w), cwd: cwdEdit.to, uid: w.user.uid });
    if (JSON.stringify(r.argv) !== JSON.stringify(argv)) edits.push({ field: 'argv', rule: 'base-entrypoint', from: JSON.stringify(argv), to: JSON.stringify(r.argv) });
    argv = r.argv;
    if (r.runAs) {
      edits.push({ field: 'user', rule: 'base-entrypoint', from: `${user.uid}:${user.gid}`, to: `${r.runAs.uid}:${r.runAs.gid}` });
      user = r.runAs;
      if (r.ownsWorkdir) workdirOwner = r.runAs;
    }
  }
  if (w.base.repository === 'postgres' && !isShell(argv[0]) && !argv.some((a) => a.startsWith('unix_socket_directories='))) {
    edits.push({ field: 'argv+', rule: 'socket-dir', from: '', to: JSON.stringify(socketDirArgs(root)) });
    argv = [...argv, ...socketDirArgs(root)];
  }
  const argvFieldEdits = argvEdits('argv', argv, ctx);
  edits.push(...argvFieldEdits);
  argv = argv.map((a, i) => applyField(a, argvFieldEdits, `argv[${i}]`));

  // env: values by the same rules; *_HOST names a host; fieldRefs; PATH.
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(w.env)) {
    const field = `env.${k}`;
    if (k === 'PATH') continue;
    const host = hostValueEdit(field, v, ctx, k.endsWith('_HOST'));
    const fieldEdits = host ? [host] : pathEdit(field, v, ctx) ? [pathEdit(field, v, ctx)!] : [...hostPortEdits(field, v, ctx), ...networkRangeEdits(field, v, ctx)];
    edits.push(...fieldEdits);
    env[k] = applyField(v, fieldEdits, field);
  }
  for (const [k, fieldPath] of Object.entries(w.fieldRefs)) {
    if (fieldPath !== 'metadata.name') throw new Error(`${w.name}: env ${k} from fieldRef ${fieldPath} is not interpreted by the stack replay`);
    edits.push({ field: `env.${k}`, rule: 'field-ref', from: `fieldRef:${fieldPath}`, to: w.name });
    env[k] = w.name;
  }
  env.PATH = pathFor(plan, w);
  edits.push({ field: 'env.PATH', rule: 'machine-path', from: w.env.PATH ?? '', to: env.PATH });

  const files = w.files.map((f) => {
    const loc = pathEdit(`file:${f.path}`, f.path, ctx)!;
    edits.push(loc);
    const kind = contentKind(w, f);
    const field = `content:${f.path}`;
    const contentEdits = kind === 'nginx' ? nginxEdits(field, f.content, ctx) : kind === 'script' ? scriptEdits(field, f.content, ctx) : [];
    edits.push(...contentEdits);
    return { ...f, containerPath: f.path, path: loc.to, content: applyField(f.content, contentEdits, field) };
  });
  const dirs = w.dirs.map((d) => {
    const loc = pathEdit(`dir:${d.path}`, d.path, ctx)!;
    edits.push(loc);
    return { ...d, containerPath: d.path, path: loc.to };
  });

  let probe = w.probe;
  if (probe?.kind === 'exec') {
    const probeEdits = argvEdits('probe', probe.argv, ctx);
    edits.push(...probeEdits);
    probe = { kind: 'exec', argv: probe.argv.map((a, i) => applyField(a, probeEdits, `probe[${i}]`)) };
  }

  return { declared: w, name: w.name, address, root, argv, env, cwd: cwdEdit.to, user, files, dirs, probe, workdirOwner, probeUser: w.user, edits };
}

// --- verification ----------------------------------------------------------------------------------

/** Whether one edit is what its rule allows, recomputed from the plan (not from the localizer). */
function editAllowed(e: Edit, w: DeclaredWorkload, plan: Plan, address: string, root: string): boolean {
  const unquote = (s: string) => s.replace(/^"(.*)"$/, '$1');
  switch (e.rule) {
    case 'own-address': {
      const forms = [
        ...['0.0.0.0', '127.0.0.1'].flatMap((h) => [e.from === h ? address : null, e.from.startsWith(`${h}:`) ? `${address}${e.from.slice(h.length)}` : null, /^-h\s+/.test(e.from) && e.from.replace(/^-h\s+/, '') === h ? e.from.replace(h, address) : null]),
        e.from === 'listen_addresses=*' ? `listen_addresses=${address}` : null,
        e.from === 'redis-cli ' ? `redis-cli -h ${address} ` : null,
      ];
      const listen = /^(\s*listen )(?:(?:127\.0\.0\.1|0\.0\.0\.0|\*):)?(\d+)(.*)$/.exec(e.from);
      if (listen) forms.push(`${listen[1]}${address}:${listen[2]}${listen[3]}`);
      return forms.includes(e.to);
    }
    case 'service-address': {
      const list = plan.services.get(e.name ?? '');
      if (!e.name || list?.length !== 1) return false;
      const okFrom = e.from === e.name || new RegExp(`^(-h\\s+)?${escapeRe(e.name)}(:\\d+)?$`).test(e.from);
      return okFrom && e.to === e.from.replace(e.name, list[0]);
    }
    case 'path': {
      const p = unquote(e.from);
      return p.startsWith('/') && !isMachinePath(p) && e.to === e.from.replace(p, underRoot(root, p));
    }
    case 'static-upstream':
      return isResolveLine(e.from.replace(/\n$/, '')) && e.to === withoutResolve(e.from, (h) => plan.services.get(h) ?? []);
    case 'network-range':
      return privateRange.test(e.from) && e.to === plan.network;
    case 'field-ref':
      return e.from === 'fieldRef:metadata.name' && e.to === w.name;
    case 'machine-path':
      return e.field === 'env.PATH' && e.to === pathFor(plan, w);
    case 'base-entrypoint':
      if (e.field === 'user') return true; // checked with the argv edit below
      return e.field === 'argv' && e.from === JSON.stringify(w.argv)
        && e.to === JSON.stringify(w.base.runEntrypoint(w.argv, { path: pathFor(plan, w), cwd: underRoot(root, w.workdir), uid: w.user.uid }).argv);
    case 'socket-dir':
      return w.base.repository === 'postgres' && e.field === 'argv+' && e.to === JSON.stringify(socketDirArgs(root));
  }
}

/**
 * Throws, listing every difference between the declared and the local workload that is not an
 * allowed edit. The local workload is rebuilt from the declaration and the edits alone.
 */
export function verifyLocalization(w: DeclaredWorkload, local: LocalWorkload, plan: Plan): void {
  const problems: string[] = [];
  const address = plan.addresses.get(w.name)!;
  const root = rootOf(plan, w.name);
  if (local.address !== address || local.root !== root) problems.push(`address/root ${local.address} ${local.root}, plan says ${address} ${root}`);
  for (const e of local.edits) if (!editAllowed(e, w, plan, address, root)) problems.push(`edit not allowed by rule ${e.rule}: ${e.field} "${e.from}" → "${e.to}"`);
  const of = (field: string) => local.edits.filter((e) => e.field === field);
  const apply = (value: string, field: string) => {
    try {
      return applyEdits(value, of(field));
    } catch (err) {
      problems.push(`${field}: ${(err as Error).message}`);
      return value;
    }
  };
  const differs = (what: string, expected: unknown, actual: unknown) => {
    if (JSON.stringify(expected) !== JSON.stringify(actual)) problems.push(`${what}: expected ${JSON.stringify(expected)}, local has ${JSON.stringify(actual)}`);
  };

  // argv
  let argv = w.argv;
  const whole = of('argv')[0];
  if (whole) argv = JSON.parse(whole.to);
  const userEdit = of('user')[0];
  if (userEdit && !whole && w.base.entrypoint[0] !== w.argv[0]) problems.push('user changed without the image entrypoint');
  const appended = of('argv+')[0];
  if (appended) argv = [...argv, ...JSON.parse(appended.to)];
  differs('argv', argv.map((a, i) => apply(a, `argv[${i}]`)), local.argv);
  differs('user', userEdit ? userEdit.to : `${w.user.uid}:${w.user.gid}`, `${local.user.uid}:${local.user.gid}`);
  differs('cwd', apply(w.workdir, 'cwd'), local.cwd);
  differs('probe user', `${w.user.uid}:${w.user.gid}`, `${local.probeUser.uid}:${local.probeUser.gid}`);

  // env: same keys (PATH set by its rule), values rebuilt
  const expectedEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(w.env)) if (k !== 'PATH') expectedEnv[k] = apply(v, `env.${k}`);
  for (const k of Object.keys(w.fieldRefs)) expectedEnv[k] = of(`env.${k}`)[0]?.to ?? '<missing fieldRef edit>';
  expectedEnv.PATH = of('env.PATH')[0]?.to ?? '<missing PATH edit>';
  const sort = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
  differs('env', sort(expectedEnv), sort(local.env));

  // files and directories: same set, locations by the path rule, contents rebuilt, modes kept
  differs('files', w.files.map((f) => ({ ...f, path: apply(f.path, `file:${f.path}`), content: apply(f.content, `content:${f.path}`) })),
    local.files.map(({ containerPath: _c, ...f }) => f));
  differs('dirs', w.dirs.map((d) => ({ ...d, path: apply(d.path, `dir:${d.path}`) })), local.dirs.map(({ containerPath: _c, ...d }) => d));

  // probe
  const probe = w.probe?.kind === 'exec' ? { kind: 'exec', argv: w.probe.argv.map((a, i) => apply(a, `probe[${i}]`)) } : w.probe;
  differs('probe', probe, local.probe);

  if (problems.length) throw new Error(`${w.name} (${w.source}): the replay differs from the declaration beyond the allowed rules:\n  ${problems.join('\n  ')}`);
}
