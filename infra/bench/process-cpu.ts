// CPU time per process tree from /proc, as pure parsing and arithmetic (the reads are in
// tier-sampler.ts). A tier's CPU over a run is the change in utime+stime summed over each listed
// process's whole tree (nginx workers, PostgreSQL backends are children), plus the change in
// cutime+cstime of every member: a child that exited during the run and was reaped by its parent
// leaves its time there (an nginx worker respawned, a backend that disconnected). Hand-rolled
// because the npm process-stat packages (pidusage, ps-tree) shell out to ps or read one process,
// not a tree with reaped children.

export interface ProcStat {
  pid: number;
  ppid: number;
  /** Clock ticks (USER_HZ): own user and system time. */
  utime: number;
  stime: number;
  /** Clock ticks of waited-for children (and their own reaped descendants). */
  cutime: number;
  cstime: number;
}

/**
 * One line of /proc/<pid>/stat. The command (field 2) is in parentheses and may hold spaces or
 * ')': split after its last ')'. Fields from 3 on: state ppid … utime(14) stime(15) cutime(16) cstime(17).
 */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: "${text.slice(0, 80)}"`);
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state): field N is rest[N - 3].
  const field = (n: number) => {
    const v = Number(rest[n - 3]);
    if (!Number.isFinite(v)) throw new Error(`/proc/${pid}/stat: field ${n} is not a number ("${rest[n - 3]}")`);
    return v;
  };
  if (!Number.isInteger(pid) || pid <= 0 || rest.length < 15) throw new Error(`not a /proc/<pid>/stat line: "${text.slice(0, 80)}"`);
  return { pid, ppid: field(4), utime: field(14), stime: field(15), cutime: field(16), cstime: field(17) };
}

/** VmRSS of /proc/<pid>/status in bytes; null when absent (a kernel thread, a zombie). */
export function parseStatusRssBytes(text: string): number | null {
  const m = text.match(/^VmRSS:\s+(\d+)\s+kB$/m);
  return m ? Number(m[1]) * 1024 : null;
}

/**
 * voluntary_ctxt_switches and nonvoluntary_ctxt_switches of /proc/<pid>/status: the counts of the
 * process's main thread (the thread whose id is the pid), for Node.js its event loop. A voluntary
 * switch is the loop blocking in epoll_wait with nothing to do, so each later wake-up pays a loop
 * turn and the kernel's switch back; an involuntary one is the thread preempted while it had work.
 */
export function parseStatusSwitches(text: string): { voluntary: number; involuntary: number } | null {
  const v = text.match(/^voluntary_ctxt_switches:\s+(\d+)$/m);
  const n = text.match(/^nonvoluntary_ctxt_switches:\s+(\d+)$/m);
  return v && n ? { voluntary: Number(v[1]), involuntary: Number(n[1]) } : null;
}

/** The roots and every live descendant of them, by ppid (each pid once, even when roots nest). */
export function processTree(roots: number[], procs: ReadonlyMap<number, ProcStat>): number[] {
  const children = new Map<number, number[]>();
  for (const p of procs.values()) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const seen = new Set<number>();
  const queue = roots.filter((r) => procs.has(r));
  while (queue.length > 0) {
    const pid = queue.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    for (const c of children.get(pid) ?? []) queue.push(c);
  }
  return [...seen].sort((a, b) => a - b);
}

/** Ticks used so far by the trees of these roots: own time of every member plus its reaped children's. */
export function treeTicks(roots: number[], procs: ReadonlyMap<number, ProcStat>): number {
  let ticks = 0;
  for (const pid of processTree(roots, procs)) {
    const p = procs.get(pid)!;
    ticks += p.utime + p.stime + p.cutime + p.cstime;
  }
  return ticks;
}

/**
 * CPU µs per request from a tick count (netTicks). A tree member that exited and was reaped by a
 * process outside every listed tree (reparented to init) takes its time with it; a negative
 * change is floored at 0 rather than reported.
 */
export function microsPerRequest(ticks: number, requests: number, ticksPerSecond: number): number | null {
  if (requests <= 0 || ticksPerSecond <= 0) return null;
  const micros = (Math.max(0, ticks) / ticksPerSecond) * 1e6;
  return Math.round((micros / requests) * 10) / 10;
}

/** The machine's CPU from the first line of /proc/stat, in ticks: all time, and idle + iowait. */
export function parseMachineCpu(procStat: string): { total: number; idle: number } {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('/proc/stat: no "cpu " line');
  // user nice system idle iowait irq softirq steal (guest time is already in user and nice)
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 5 || f.some((x) => !Number.isFinite(x))) throw new Error(`/proc/stat: not a cpu line: "${line}"`);
  return { total: f.reduce((a, b) => a + b, 0), idle: f[3] + f[4] };
}

/**
 * Ticks a tier used in a run beyond its own background (timers, pollers, replication), which it
 * spends with or without requests: the change minus the idle rate × the run's seconds, floored at 0.
 */
export function netTicks(ticksBefore: number, ticksAfter: number, idleTicksPerSecond: number, seconds: number): number {
  return Math.max(0, ticksAfter - ticksBefore - idleTicksPerSecond * seconds);
}

/** Median of a list (the lower middle for an even count, as the bench's median round). */
export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}
