import { appProcessEnv } from '../local/app-processes';
import { appNodes } from '../local/cluster-layout';
import { resolveStateDir, StateDir } from '../local/state';

// The app environment of the local cluster (`aidiary up`), for the commands configured like the
// app when they run on the developer's machine: with neither AIDIARY_DB_NODES nor
// AIDIARY_DB_PRIMARY_SERVICE set, and a cluster recorded in the state dir, they use app-0's
// environment (node list, Redis URLs, secret FILE paths) exactly as the runner gives it.

export function localClusterEnv(stateDirFlag: string | undefined, env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; stateDir: string } | null {
  if (env.AIDIARY_DB_NODES || env.AIDIARY_DB_PRIMARY_SERVICE) return null;
  const state = new StateDir(resolveStateDir(stateDirFlag, env));
  const recorded = state.read();
  if (!recorded) return null;
  const secrets = state.appSecretRefs();
  return { env: appProcessEnv(recorded.topology, appNodes(recorded.topology)[0], secrets, env), stateDir: state.root };
}
