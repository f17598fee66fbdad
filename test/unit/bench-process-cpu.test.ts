import { describe, expect, it } from 'vitest';
import {
  median, microsPerRequest, netTicks, parseMachineCpu, parseProcStat, parseStatusRssBytes, parseStatusSwitches, processTree, treeTicks, type ProcStat,
} from '../../infra/bench/process-cpu';
import { switchesPerRequest } from '../../infra/bench/tier-sampler';
import { cdnHitRatio, parseStubStatusRequests } from '../../infra/bench/stub-status';

// /proc parsing and the per-tree arithmetic behind the bench's CPU-per-request columns.

const statLine = (pid: number, comm: string, ppid: number, utime: number, stime: number, cutime = 0, cstime = 0) =>
  // Fields 3..: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority …
  `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 120 0 0 0 ${utime} ${stime} ${cutime} ${cstime} 20 0 1 0 100 1000 200 18446744073709551615`;

const procs = (...list: ProcStat[]) => new Map(list.map((p) => [p.pid, p]));
const p = (pid: number, ppid: number, utime: number, stime = 0, cutime = 0, cstime = 0): ProcStat => ({ pid, ppid, utime, stime, cutime, cstime });

describe('parsing /proc', () => {
  it('reads ppid and the four time fields of a stat line', () => {
    expect(parseProcStat(statLine(4242, 'nginx', 1, 150, 30, 7, 2))).toEqual({ pid: 4242, ppid: 1, utime: 150, stime: 30, cutime: 7, cstime: 2 });
  });

  it('survives a command name with spaces and parentheses', () => {
    expect(parseProcStat(statLine(77, 'postgres: app db (127.0.0.1) idle', 10, 5, 6))).toMatchObject({ pid: 77, ppid: 10, utime: 5, stime: 6 });
  });

  it('refuses text that is not a stat line', () => {
    expect(() => parseProcStat('hello')).toThrow(/not a \/proc\/<pid>\/stat line/);
    expect(() => parseProcStat('12 (x) S 1 2')).toThrow(/not a \/proc\/<pid>\/stat line/);
  });

  it('reads VmRSS in bytes, null when the process has none', () => {
    expect(parseStatusRssBytes('Name:\tnode\nVmPeak:\t 999 kB\nVmRSS:\t  245760 kB\nThreads:\t11\n')).toBe(245760 * 1024);
    expect(parseStatusRssBytes('Name:\tkthreadd\nThreads:\t1\n')).toBeNull();
  });

  it('reads the main thread\'s voluntary and involuntary context switches, null when either is absent', () => {
    const status = 'Name:\tnode\nThreads:\t11\nvoluntary_ctxt_switches:\t12345\nnonvoluntary_ctxt_switches:\t678\n';
    expect(parseStatusSwitches(status)).toEqual({ voluntary: 12345, involuntary: 678 });
    expect(parseStatusSwitches('Name:\tnode\nvoluntary_ctxt_switches:\t5\n')).toBeNull();
  });

  it('reads the machine total and idle+iowait ticks from /proc/stat', () => {
    const text = 'cpu  100 5 50 1000 20 3 2 10 0 0\ncpu0 50 2 25 500 10 1 1 5 0 0\nintr 1 2 3\n';
    expect(parseMachineCpu(text)).toEqual({ total: 100 + 5 + 50 + 1000 + 20 + 3 + 2 + 10, idle: 1020 });
    expect(() => parseMachineCpu('intr 1 2\n')).toThrow(/no "cpu " line/);
  });
});

describe('process trees', () => {
  // 1 init; 100 nginx master with workers 101, 102; 200 postmaster with backend 201 and its child 202; 300 unrelated.
  const table = procs(p(1, 0, 999), p(100, 1, 10, 1, 4, 1), p(101, 100, 50, 20), p(102, 100, 40, 10), p(200, 1, 5), p(201, 200, 30, 3), p(202, 201, 2, 1), p(300, 1, 500));

  it('collects the roots and every descendant by ppid, once each', () => {
    expect(processTree([100], table)).toEqual([100, 101, 102]);
    expect(processTree([200], table)).toEqual([200, 201, 202]);
    expect(processTree([200, 201], table)).toEqual([200, 201, 202]);
    expect(processTree([999], table)).toEqual([]);
  });

  it('sums own and reaped children\'s time over the tree', () => {
    // master 10+1+4+1, workers 70 and 50
    expect(treeTicks([100], table)).toBe(16 + 70 + 50);
    expect(treeTicks([100, 200], table)).toBe(136 + 5 + 33 + 3);
  });

  it('a worker that exits during the run still counts: its time moves into the parent\'s cutime', () => {
    const before = treeTicks([100], table);
    // Worker 102 (50 ticks so far) runs 10 more, exits and is reaped; a new worker 103 starts and uses 7.
    const after = treeTicks([100], procs(p(1, 0, 999), p(100, 1, 10, 1, 4 + 60, 1), p(101, 100, 60, 25), p(103, 100, 7)));
    expect(after - before).toBe(10 /* 102's last ticks */ + 15 /* 101 */ + 7 /* 103 */);
  });
});

describe('per-request arithmetic', () => {
  it('turns ticks into µs per request (100 ticks = 1 s at USER_HZ 100)', () => {
    expect(microsPerRequest(150, 10_000, 100)).toBe(150);
    expect(microsPerRequest(1, 3, 100)).toBe(3333.3);
    expect(microsPerRequest(-5, 10, 100)).toBe(0);
    expect(microsPerRequest(10, 0, 100)).toBeNull();
  });

  it('subtracts the tier\'s idle background over the run, never below 0', () => {
    expect(netTicks(1000, 1300, 20, 10)).toBe(100);
    expect(netTicks(1000, 1010, 20, 10)).toBe(0);
  });

  it('counts the apps\' wake-ups per request less their idle timer rate, and preemptions as they are', () => {
    const at = (voluntary: number, involuntary: number) => ({ appSwitches: { voluntary, involuntary } });
    // 5 s, 10,000 requests: 3,000 switches less 100/s idle · 5 s = 2,500 → 0.25; 400 preemptions → 0.04.
    expect(switchesPerRequest(at(1000, 100), at(4000, 500), 10_000, 5, 100)).toEqual({ wakeups: 0.25, preemptions: 0.04 });
    // A busy loop skips its idle timers' wake-ups: never below 0.
    expect(switchesPerRequest(at(1000, 100), at(1200, 100), 10_000, 5, 100)).toEqual({ wakeups: 0, preemptions: 0 });
    expect(switchesPerRequest(at(0, 0), at(10, 10), 0, 5, 0)).toEqual({ wakeups: null, preemptions: null });
  });

  it('median is the lower middle, as the bench\'s median round', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2);
    expect(median([])).toBeNull();
  });
});

describe('CDN hit ratio from nginx stub_status', () => {
  const page = (requests: number) => `Active connections: 3 \nserver accepts handled requests\n 10 10 ${requests} \nReading: 0 Writing: 1 Waiting: 2 \n`;

  it('reads the requests counter', () => {
    expect(parseStubStatusRequests(page(12345))).toBe(12345);
    expect(() => parseStubStatusRequests('<html>nope</html>')).toThrow(/not an nginx stub_status page/);
  });

  it('counts what reached nginx as misses, our own status read excluded', () => {
    // 10,000 requests through the CDN; nginx saw 251 more requests, 1 of them our status read.
    expect(cdnHitRatio(1000, 1251, 1, 10_000)).toBe(0.975);
    expect(cdnHitRatio(1000, 1000, 1, 10_000)).toBe(1);
    expect(cdnHitRatio(0, 50_000, 1, 10_000)).toBe(0);
    expect(cdnHitRatio(0, 5, 1, 0)).toBeNull();
  });
});
