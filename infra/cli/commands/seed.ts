import { parseArgs } from 'node:util';
import { ControlClient } from '../../bench/control-client';
import { appNodes } from '../../local/cluster-layout';
import { livePrimary } from '../../local/runner';
import { seedPostsTo } from '../../local/seed-posts';
import { resolveStateDir, StateDir } from '../../local/state';
import { emitJson, intOption, progress, UsageError } from '../output';

// `aidiary seed --posts N`: tops the running local cluster up to N published posts (the demo
// content first if it was never seeded). Running it twice gives N, not 2N. The posts go straight
// into the database, past the app's purge logic, so the page caches are flushed afterwards
// through each app's loopback control port.
export async function seedCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { posts: { type: 'string' }, 'state-dir': { type: 'string' }, json: { type: 'boolean', default: false }, out: { type: 'string' } },
    strict: true,
  });
  if (values.posts === undefined) throw new UsageError('--posts N is required: the number of published posts the site should hold');
  const posts = intOption('posts', values.posts, 0)!;
  const state = new StateDir(resolveStateDir(values['state-dir']));
  const s = state.read();
  if (!s) throw new Error(`no cluster in ${state.root}; run \`aidiary up\` first`);
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
  if (values.json) emitJson(result, values.out);
  return 0;
}
