import { parseArgs } from 'node:util';
import { scale } from '../../local/runner';
import { resolveStateDir } from '../../local/state';
import { emitJson, intOption, progress, UsageError } from '../output';

// `aidiary scale --apps N --db-replicas M`: add → reload nginx → drain removed; no failed request.
export async function scaleCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { apps: { type: 'string' }, 'db-replicas': { type: 'string' }, 'state-dir': { type: 'string' }, json: { type: 'boolean', default: false }, out: { type: 'string' } },
    strict: true,
  });
  const apps = intOption('apps', values.apps, 1);
  const dbReplicas = intOption('db-replicas', values['db-replicas'], 0);
  if (apps === undefined && dbReplicas === undefined) throw new UsageError('scale: give --apps N and/or --db-replicas M');
  const started = Date.now();
  const { topology } = await scale({ stateDir: resolveStateDir(values['state-dir']), apps, dbReplicas, log: progress });
  progress(`scaled to ${topology.appReplicas} app(s) and ${topology.dbReplicas} DB replica(s) in ${Date.now() - started} ms`);
  if (values.json) emitJson({ apps: topology.appReplicas, dbReplicas: topology.dbReplicas, elapsedMs: Date.now() - started }, values.out);
  return 0;
}
