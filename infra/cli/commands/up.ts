import { parseArgs } from 'node:util';
import { freePortBlock } from '../../local/process';
import { BASE_PORT_SPAN } from '../../local/cluster-layout';
import { checkBinaries, isNodeProcess } from '../../local/preflight';
import { isRoot } from '../../local/process';
import { down, up } from '../../local/runner';
import { resolveStateDir, StateDir } from '../../local/state';
import { emitJson, intOption, progress } from '../output';
import { seedCommand } from './seed';

// `aidiary up [--detach] [--apps N] [--db-replicas M] [--port P] [--base-port B|auto] [--seed-posts N]`.
// Foreground by default: Ctrl-C (or SIGTERM) stops every process it started. --seed-posts N: the
// site holds at least N published posts once up returns (the bench's Zipf mix is over 10,000): a
// fresh cluster's demo seed is N posts, then `aidiary seed --posts N` tops up the published ones
// (also on a cluster seeded before) and flushes the page caches.

export async function upCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      detach: { type: 'boolean', short: 'd', default: false },
      apps: { type: 'string' },
      'db-replicas': { type: 'string' },
      port: { type: 'string' },
      'base-port': { type: 'string' },
      'seed-posts': { type: 'string' },
      'state-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
    strict: true,
  });
  const stateDir = resolveStateDir(values['state-dir']);
  const seedPosts = intOption('seed-posts', values['seed-posts'], 0);
  await installMissingSystemPackages();
  const basePortRaw = values['base-port'];
  const basePort = basePortRaw === 'auto' ? await freePortBlock(BASE_PORT_SPAN) : intOption('base-port', basePortRaw, 1);
  const result = await up({
    stateDir,
    apps: intOption('apps', values.apps, 1),
    dbReplicas: intOption('db-replicas', values['db-replicas'], 0),
    port: intOption('port', values.port, 1),
    basePort,
    log: progress,
    supervisorPid: values.detach ? null : process.pid,
    seedPosts,
  });
  if (seedPosts !== undefined) {
    try {
      const code = await seedCommand(['--posts', String(seedPosts), '--state-dir', stateDir]);
      if (code !== 0) return code;
    } catch (err) {
      // A foreground cluster has no one left to stop it once this command fails.
      if (!values.detach) await down({ stateDir, log: progress }).catch(() => {});
      throw err;
    }
  }
  progress(`cluster up in ${(result.elapsedMs / 1000).toFixed(1)} s: ${result.topology.appReplicas} app(s), 1 primary + ${result.topology.dbReplicas} replica(s)`);
  progress(`open ${result.url}`);
  progress(`admin login: admin, password in ${result.adminPasswordFile}`);
  if (values.json) emitJson({ url: result.url, stateDir: result.stateDir, adminPasswordFile: result.adminPasswordFile, elapsedMs: result.elapsedMs }, values.out);
  if (values.detach) return 0;
  return supervise(stateDir);
}

/** A fresh machine: nginx/PostgreSQL/Redis through apt when we may (root), else checkBinaries' message. */
async function installMissingSystemPackages(): Promise<void> {
  try {
    checkBinaries();
  } catch (err) {
    if (!isRoot() || process.env.AIDIARY_NO_APT === '1') throw err;
    progress('installing missing system packages through apt…');
    // @ts-expect-error plain JS helper without types (it must run on a fresh clone before any build)
    const { ensureSystem } = await import('../../../scripts/ensure-system.mjs');
    ensureSystem();
    checkBinaries();
  }
}

/** Foreground: wait for Ctrl-C/SIGTERM and stop everything; exit if the cluster is stopped elsewhere. */
function supervise(stateDir: string): Promise<number> {
  const state = new StateDir(stateDir);
  progress('running in the foreground; Ctrl-C stops the cluster');
  return new Promise((resolve) => {
    let stopping = false;
    const finish = async (reason: string) => {
      if (stopping) return;
      stopping = true;
      clearInterval(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      progress(`${reason}: stopping the cluster`);
      try {
        const { stopped } = await down({ stateDir, log: progress });
        progress(`stopped ${stopped.join(', ')} (data kept)`);
        resolve(0);
      } catch (err) {
        progress(`down failed: ${(err as Error).message}`);
        resolve(1);
      }
    };
    const onSignal = (signal: NodeJS.Signals) => void finish(signal);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // `aidiary down` from another terminal stops nginx: then there is nothing left to supervise.
    const timer = setInterval(() => {
      if (!stopping && !isNodeProcess('lb', state.readPid('lb')) && !state.lockHolder()) {
        stopping = true;
        clearInterval(timer);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        progress('the cluster was stopped elsewhere');
        resolve(0);
      }
    }, 1000);
  });
}
