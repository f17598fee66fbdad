import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { wrkBinary } from './wrk-runner';

// Benchmark hygiene (peers §7.11): every report names the hardware and software it ran on.

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  versions: { node: string; nginx: string | null; postgres: string | null; redis: string | null; wrk: string | null };
}

function firstLine(cmd: string, args: string[], pattern?: RegExp): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  if (r.error) return null;
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  if (pattern) return text.match(pattern)?.[1] ?? null;
  return text.split('\n').find((l) => l.trim())?.trim() ?? null;
}

function postgresBinary(): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(base, v, 'bin', 'postgres'))) return join(base, v, 'bin', 'postgres');
  }
  return 'postgres';
}

export function machineFacts(): MachineFacts {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) cpuModel = m[1].trim();
  } catch {
    /* not Linux: os.cpus() is good enough */
  }
  let kernel = 'unknown';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    /* not Linux */
  }
  return {
    cpuModel,
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel,
    versions: {
      node: process.version,
      nginx: firstLine(existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx', ['-v'], /nginx\/(\S+)/),
      postgres: firstLine(postgresBinary(), ['--version'], /\(PostgreSQL\)\s+(\S+)/),
      redis: firstLine('redis-server', ['--version'], /v=(\S+)/),
      wrk: firstLine(wrkBinary, ['-v'], /wrk\s+(\S+)/),
    },
  };
}
