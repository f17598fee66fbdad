import type { Command } from 'commander';
import { ControlClient } from '../../bench/control-client';
import { appNodes } from '../../local/cluster-layout';
import { livePrimary } from '../../local/runner';
import { seedPostsTo } from '../../local/seed-posts';
import { action, integer, requireCluster, withOutput, withStateDir, type ExitSink, type OutputOptions, type StateDirOptions } from '../args';
import { emitResult, progress } from '../output';

// `aidiary seed --posts N`: tops the running local cluster up to N published posts (the demo
// content first if it was never seeded). Running it twice gives N, not 2N. The posts go straight
// into the database, past the app's purge logic, so the page caches are flushed afterwards
// through each app's loopback control port.

export async function seedTo(stateDir: string | undefined, posts: number): Promise<Awaited<ReturnType<typeof seedPostsTo>>> {
  const { state, recorded: s } = requireCluster({ stateDir });
  const primary = await livePrimary(state, s.topology);
  const result = await seedPostsTo({
    host: primary.host, port: primary.port, user: s.topology.database.appUser,
    password: state.readSecret(state.dbPasswordFile), database: s.topology.database.name,
  }, posts, progress);
  if (result.demoSeeded) {
    const st = state.read();
    if (st) state.write({ ...st, seeded: true });
  }
  progress(result.added
    ? `added ${result.added} published posts: ${result.publishedBefore} → ${result.published}`
    : `the site already has ${result.published} published posts (≥ ${posts}); nothing to add`);
  if (result.added || result.demoSeeded) {
    const control = new ControlClient(appNodes(s.topology).map((a) => ({ name: a.name, controlPort: state.readControlPort(a.name) })));
    if (control.available) {
      await control.flush();
      progress('page caches flushed on every app');
    } else {
      progress('note: no app control ports; pages cached before the seed show the new posts once their TTL ends');
    }
  }
  return result;
}

export function registerSeed(program: Command, exit: ExitSink): void {
  const cmd = program.command('seed')
    .description('top the site up to N published posts (deterministic demo content)')
    .requiredOption('--posts <n>', 'the number of published posts the site should hold', integer(0));
  withOutput(withStateDir(cmd)).action(action(exit, async (opts: StateDirOptions & OutputOptions & { posts: number }) => {
    const result = await seedTo(opts.stateDir, opts.posts);
    emitResult(opts, result);
    return 0;
  }));
}
