import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { freePortBlock } from '../../local/process';
import { BASE_PORT_SPAN, type LocalCdn } from '../../local/cluster-layout';
import { checkBinaries, isNodeProcess } from '../../local/preflight';
import { isRoot } from '../../local/process';
import { startMonitoring, type MonitoringProfile } from '../../local/monitoring';
import { down, up } from '../../local/runner';
import { checkVarnishInstalled } from '../../local/varnish';
import { resolveStateDir, StateDir } from '../../local/state';
import {
  action, appCount, dbReplicaCount, integer, port, withOutput, withStateDir, type ExitSink, type OutputOptions, type StateDirOptions,
} from '../args';
import { UsageError } from '../exit-codes';
import { emitResult, progress } from '../output';
import { seedTo } from './seed';

// `aidiary up [--detach] [--apps N] [--db-replicas M] [--port P] [--base-port B|auto] [--seed-posts N]`.
// Foreground by default: Ctrl-C (or SIGTERM) stops every process it started. --apps and
// --db-replicas are stored in the state dir's topology: a later `up` without them starts the same
// shape, and `scale` changes it. --seed-posts N: the site holds at least N published posts once up
// returns (the bench's Zipf mix is over 10,000): a fresh cluster's demo seed is N posts, then
// `aidiary seed --posts N` tops up the published ones (also on a cluster seeded before) and
// flushes the page caches.
// --cdn varnish (or AIDIARY_CDN=varnish): Varnish in front of nginx on the topology's cdn port
// (8088; B+4 of a --base-port block), the public origin then; stored like --apps, `--cdn none`
// removes it.

interface UpOptions extends StateDirOptions, OutputOptions {
  detach?: boolean;
  apps?: number;
  dbReplicas?: number;
  port?: number;
  basePort?: number | 'auto';
  seedPosts?: number;
  monitoring?: boolean;
  monitoringProfile?: MonitoringProfile;
  cdn?: LocalCdn;
}

const cdnKinds: LocalCdn[] = ['none', 'varnish'];

function cdnKind(value: string): LocalCdn {
  if ((cdnKinds as string[]).includes(value)) return value as LocalCdn;
  throw new InvalidArgumentError(`Give ${cdnKinds.join(' or ')} (varnish: Debian's Varnish with xkey in front of nginx).`);
}

/** --cdn, else AIDIARY_CDN (for `npm start`), else what the state dir records. */
function cdnChoice(flag: LocalCdn | undefined, env: NodeJS.ProcessEnv): LocalCdn | undefined {
  if (flag !== undefined) return flag;
  const fromEnv = env.AIDIARY_CDN;
  if (fromEnv === undefined || fromEnv === '') return undefined;
  try {
    return cdnKind(fromEnv);
  } catch {
    throw new UsageError(`AIDIARY_CDN: "${fromEnv}" is not a CDN tier; give ${cdnKinds.join(' or ')}`);
  }
}

function monitoringProfile(value: string): MonitoringProfile {
  if (value === 'production' || value === 'short') return value;
  throw new InvalidArgumentError('Give production (minute-scale alert durations) or short (seconds, 2 s scrape; for tests).');
}

function basePortOrAuto(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  try {
    return integer(1, 65535 - BASE_PORT_SPAN)(value);
  } catch {
    throw new InvalidArgumentError(`Give a port from 1 to ${65535 - BASE_PORT_SPAN} (the block is ${BASE_PORT_SPAN} ports), or auto for a free block.`);
  }
}

export function registerUp(program: Command, exit: ExitSink): void {
  const cmd = program.command('up').alias('start')
    .description('start the local cluster (foreground unless --detach); a second up resumes a stopped one')
    .option('-d, --detach', 'return once the cluster is up (stop it with `aidiary down`)')
    .option('--apps <n>', 'app processes behind nginx (1-64; default 3, or what the state dir records)', appCount)
    .option('--db-replicas <m>', 'PostgreSQL streaming replicas (0-8; default 2, or what the state dir records)', dbReplicaCount)
    .option('--port <p>', 'nginx\'s port (default 8080)', port)
    .option('--base-port <b|auto>', `first of ${BASE_PORT_SPAN} consecutive ports for every node (auto: a free block); a new state dir only`, basePortOrAuto)
    .option('--seed-posts <n>', 'the site holds at least N published posts once up returns', integer(0))
    .option('--monitoring', 'also start Prometheus and the PostgreSQL, Redis and nginx exporters (or set AIDIARY_MONITORING=1)')
    .option('--monitoring-profile <p>', 'alert durations: production (default) or short', monitoringProfile)
    .option('--cdn <kind>', 'CDN tier in front of nginx: varnish or none (default none, or what the state dir records; or set AIDIARY_CDN)', cdnKind);
  withOutput(withStateDir(cmd)).action(action(exit, async (opts: UpOptions) => {
    const stateDir = resolveStateDir(opts.stateDir);
    const cdn = cdnChoice(opts.cdn, process.env);
    await installMissingSystemPackages(cdn === 'varnish' || (cdn === undefined && new StateDir(stateDir).read()?.topology.cdn === 'varnish'));
    const basePort = opts.basePort === 'auto' ? await freePortBlock(BASE_PORT_SPAN) : opts.basePort;
    const result = await up({
      stateDir,
      apps: opts.apps,
      dbReplicas: opts.dbReplicas,
      cdn,
      port: opts.port,
      basePort,
      log: progress,
      supervisorPid: opts.detach ? null : process.pid,
      seedPosts: opts.seedPosts,
    });
    const monitored = opts.monitoring === true || process.env.AIDIARY_MONITORING === '1';
    if (opts.seedPosts !== undefined || monitored) {
      try {
        if (opts.seedPosts !== undefined) await seedTo(stateDir, opts.seedPosts);
        if (monitored) await startMonitoring(stateDir, { profile: opts.monitoringProfile, log: progress });
      } catch (err) {
        // A foreground cluster has no one left to stop it once this command fails.
        if (!opts.detach) await down({ stateDir, log: progress }).catch(() => {});
        throw err;
      }
    }
    progress(`cluster up in ${(result.elapsedMs / 1000).toFixed(1)} s: ${result.topology.appReplicas} app(s), 1 primary + ${result.topology.dbReplicas} replica(s)${result.topology.cdn === 'varnish' ? ', Varnish in front of nginx' : ''}`);
    progress(`open ${result.url}`);
    progress(`admin login: admin, password in ${result.adminPasswordFile}`);
    emitResult(opts, { url: result.url, stateDir: result.stateDir, adminPasswordFile: result.adminPasswordFile, elapsedMs: result.elapsedMs });
    if (opts.detach) return 0;
    return supervise(stateDir);
  }));
}

/**
 * A fresh machine: nginx/PostgreSQL/Redis (and Varnish with its xkey module for `--cdn varnish`)
 * through apt when we may (root), else the checks' message naming the apt command.
 */
async function installMissingSystemPackages(withCdn: boolean): Promise<void> {
  const check = () => {
    checkBinaries();
    if (withCdn) checkVarnishInstalled();
  };
  try {
    check();
  } catch (err) {
    if (!isRoot() || process.env.AIDIARY_NO_APT === '1') throw err;
    progress('installing missing system packages through apt…');
    // @ts-expect-error plain JS helper without types (it must run on a fresh clone before any build)
    const { ensureSystem } = await import('../../../scripts/ensure-system.mjs');
    ensureSystem({ withCdn });
    check();
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
