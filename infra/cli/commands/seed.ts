import { parseArgs } from 'node:util';
import { seedAppDatabase } from '../../local/app-database';
import { livePrimary } from '../../local/runner';
import { resolveStateDir, StateDir } from '../../local/state';
import { emitJson, intOption, progress } from '../output';

// `aidiary seed --posts N`: deterministic demo content in the running local cluster.
export async function seedCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { posts: { type: 'string' }, 'state-dir': { type: 'string' }, json: { type: 'boolean', default: false }, out: { type: 'string' } },
    strict: true,
  });
  const state = new StateDir(resolveStateDir(values['state-dir']));
  const s = state.read();
  if (!s) throw new Error(`no cluster in ${state.root}; run \`aidiary up\` first`);
  const primary = await livePrimary(state, s.topology);
  const posts = intOption('posts', values.posts, 0);
  const result = await seedAppDatabase({
    host: primary.host, port: primary.port, user: s.topology.database.appUser,
    password: state.readSecret(state.dbPasswordFile), database: s.topology.database.name,
  }, { posts });
  progress(result.seeded ? `seeded ${result.posts} posts, ${result.categories} categories, ${result.tags} tags` : 'demo content was already seeded; nothing to do');
  if (values.json) emitJson(result, values.out);
  return 0;
}
