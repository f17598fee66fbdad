import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

// What the replay knows about the public images the Dockerfile starts FROM and the stacks pull:
// their ENTRYPOINT/CMD/WORKDIR, their users, and what their entrypoint scripts do with the
// arguments. These scripts are not on this machine, so their documented behaviour is modeled
// here (the published docker-entrypoint.sh of each official image); an image not listed is
// refused by name, so a new image in a stack needs an entry here before the replay can run it.

export interface Ids { uid: number; gid: number }

export interface EntrypointContext {
  /** PATH the process gets (this machine's). */
  path: string;
  cwd: string;
  uid: number;
}

export interface EntrypointResult {
  argv: string[];
  /** A user switch the script performs (redis: gosu redis when started as root). */
  runAs?: Ids;
  /** The script hands the working directory to that user first (redis: chown of /data). */
  ownsWorkdir?: boolean;
  note: string;
}

export interface BaseImage {
  repository: string;
  entrypoint: string[];
  cmd: string[];
  workdir: string;
  users: Record<string, Ids>;
  /** Applies the image's entrypoint script to argv (whose first element is that script). */
  runEntrypoint(argv: string[], ctx: EntrypointContext): EntrypointResult;
}

export function onPath(command: string, ctx: Pick<EntrypointContext, 'path' | 'cwd'>): boolean {
  const candidates = command.includes('/')
    ? [isAbsolute(command) ? command : join(ctx.cwd, command)]
    : ctx.path.split(delimiter).map((d) => join(d, command));
  return candidates.some((c) => {
    try {
      accessSync(c, constants.X_OK);
      return statSync(c).isFile();
    } catch {
      return false;
    }
  });
}

const images: BaseImage[] = [
  {
    // node:*: docker-entrypoint.sh runs `node "$@"` when $1 is an option or not a command, else exec "$@".
    repository: 'node',
    entrypoint: ['docker-entrypoint.sh'],
    cmd: ['node'],
    workdir: '/',
    users: { root: { uid: 0, gid: 0 }, node: { uid: 1000, gid: 1000 } },
    runEntrypoint(argv, ctx) {
      const [, first, ...rest] = argv;
      if (first === undefined || first.startsWith('-') || !onPath(first, ctx)) return { argv: ['node', ...argv.slice(1)], note: 'node entrypoint: prepended node' };
      return { argv: [first, ...rest], note: 'node entrypoint: exec "$@"' };
    },
  },
  {
    // nginx:*: /docker-entrypoint.sh runs the /docker-entrypoint.d scripts when $1 is nginx (they
    // edit only /etc/nginx/conf.d/default.conf and /etc/nginx/templates, which the stack's own
    // config does not include), then exec "$@".
    repository: 'nginx',
    entrypoint: ['/docker-entrypoint.sh'],
    cmd: ['nginx', '-g', 'daemon off;'],
    workdir: '/',
    users: { root: { uid: 0, gid: 0 }, nginx: { uid: 101, gid: 101 } },
    runEntrypoint(argv) {
      return { argv: argv.slice(1), note: 'nginx entrypoint: exec "$@" (its /docker-entrypoint.d scripts touch no file the stack uses)' };
    },
  },
  {
    // redis:*-alpine: docker-entrypoint.sh prepends redis-server to options or a .conf file; as
    // root it chowns the working directory to redis and re-executes as redis (uid 999, gid 1000).
    repository: 'redis',
    entrypoint: ['docker-entrypoint.sh'],
    cmd: ['redis-server'],
    workdir: '/data',
    users: { root: { uid: 0, gid: 0 }, redis: { uid: 999, gid: 1000 } },
    runEntrypoint(argv, ctx) {
      let args = argv.slice(1);
      if (args.length === 0 || args[0].startsWith('-') || args[0].endsWith('.conf')) args = ['redis-server', ...args];
      const asRedis = args[0] === 'redis-server' && ctx.uid === 0;
      return { argv: args, runAs: asRedis ? this.users.redis : undefined, ownsWorkdir: asRedis, note: `redis entrypoint: exec ${asRedis ? 'as redis ' : ''}"$@"` };
    },
  },
  {
    // postgres:*: docker-entrypoint.sh initializes an empty PGDATA (initdb, POSTGRES_DB, the
    // /docker-entrypoint-initdb.d scripts), then runs postgres as the postgres user. The replay
    // provides a stand-in for it on PATH (see data-tier.ts), so argv stays as declared.
    repository: 'postgres',
    entrypoint: ['docker-entrypoint.sh'],
    cmd: ['postgres'],
    workdir: '/',
    users: { root: { uid: 0, gid: 0 } },
    runEntrypoint(argv) {
      return { argv, note: 'postgres entrypoint: the stand-in on PATH' };
    },
  },
];

/** The known image an image reference comes from, by repository name (tag and registry ignored). */
export function baseImage(reference: string): BaseImage {
  const repository = reference.split('@')[0].split(':')[0].split('/').pop()!;
  const found = images.find((i) => i.repository === repository);
  if (!found) throw new Error(`image ${reference}: the stack replay does not know this image (test/e2e/replay/base-images.ts lists ${images.map((i) => i.repository).join(', ')})`);
  return found;
}

/** "1000:0", "101", "node" → uid/gid, with the image's users for names and primary groups. */
export function resolveUser(spec: string, users: Record<string, Ids>): Ids {
  const [u, g] = spec.split(':');
  const byName = users[u];
  const uid = /^\d+$/.test(u) ? Number(u) : byName?.uid;
  if (uid === undefined) throw new Error(`user "${spec}": not a user of the image (${Object.keys(users).join(', ')})`);
  // A uid the image's passwd does not list runs with group 0 (Docker and containerd alike).
  const primary = Object.values(users).find((x) => x.uid === uid)?.gid ?? 0;
  const gid = g === undefined ? primary : /^\d+$/.test(g) ? Number(g) : users[g]?.gid;
  if (gid === undefined) throw new Error(`user "${spec}": unknown group "${g}"`);
  return { uid, gid };
}
