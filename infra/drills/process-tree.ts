import { readdirSync, readFileSync } from 'node:fs';

// Signals a whole process tree: what a crash or a frozen host does to PostgreSQL. A postmaster's
// children (backends, walsenders, checkpointer…) each call setsid(), so neither the postmaster's
// pid nor its process group reaches them: a SIGSTOP to the postmaster alone left every open
// connection served. Hand-rolled over /proc (the local cluster runs on Linux only): the libraries
// (pidtree, ps-tree) spawn `ps` for the same table, which adds a process per signal and a dependency.

/** pid → parent pid of every process visible in /proc. */
function parentTable(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so parse after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      /* exited meanwhile */
    }
  }
  return parents;
}

/** Every descendant of `root` (children, their children, …), not `root` itself. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parentTable()) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const found: number[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length) {
    const pid = queue.shift()!;
    found.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false; // gone meanwhile
    throw err;
  }
}

/**
 * Sends `sig` to `root` and every descendant; returns the pids signalled. SIGSTOP: the root goes
 * first, so it forks nothing new, then the table is read again until no new descendant shows up.
 * SIGKILL: the tree is frozen that way first (a killed root's children would be re-parented out of
 * the tree before they were found), then every pid is killed. SIGCONT: the descendants first, so
 * the root resumes into a running tree.
 */
export function signalTree(root: number, sig: NodeJS.Signals): number[] {
  if (sig === 'SIGKILL') return signalTree(root, 'SIGSTOP').filter((pid) => signal(pid, 'SIGKILL'));
  const done = new Set<number>();
  if (sig !== 'SIGCONT' && signal(root, sig)) done.add(root);
  for (let round = 0; round < 5; round++) {
    const fresh = descendants(root).filter((pid) => !done.has(pid));
    if (!fresh.length) break;
    for (const pid of fresh) if (signal(pid, sig)) done.add(pid);
  }
  if (sig === 'SIGCONT' && signal(root, sig)) done.add(root);
  return [...done];
}

/** The process state letter from /proc (R, S, T when stopped, …), or null when the pid is gone. */
export function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return null;
  }
}
