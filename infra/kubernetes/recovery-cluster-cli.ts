import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { recoveryCluster, RecoveryInputError, type ClusterObject } from './recovery-cluster';

// Renders the point-in-time recovery Cluster from the running one (README, "Restoring the
// database to a point in time"):
//   kubectl -n <ns> get cluster <name> -o json \
//     | npx tsx infra/kubernetes/recovery-cluster-cli.ts --target-time '<ts with zone>' --archive-as <new server name> \
//     > recovery.json

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'target-time': { type: 'string' }, 'archive-as': { type: 'string' } } });
  if (!values['target-time'] || !values['archive-as']) {
    throw new RecoveryInputError('usage: … | recovery-cluster-cli --target-time "2026-12-01 09:30:00+00" --archive-as <new server name> (the running Cluster as JSON on stdin)');
  }
  const input = await text(process.stdin);
  let current: ClusterObject;
  try {
    current = JSON.parse(input);
  } catch {
    throw new RecoveryInputError('stdin is not JSON: pipe `kubectl get cluster <name> -o json` into this command');
  }
  const recovered = recoveryCluster(current, { targetTime: values['target-time'], archiveServerName: values['archive-as'] });
  process.stdout.write(`${JSON.stringify(recovered, null, 2)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`recovery-cluster: ${e instanceof RecoveryInputError ? e.message : String(e)}\n`);
  process.exit(2);
});
