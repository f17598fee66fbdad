import { execFile } from 'node:child_process';
import { beforeAll, describe, expect, test } from 'vitest';
import { recoveryCluster, type ClusterObject } from '../../infra/kubernetes/recovery-cluster';
import { schemaProblems } from './kubernetes-schema';
import type { ProgramRun } from './pulumi-harness';
import { selectorProblems } from './selector-lint';
import { runProd } from './stack-fixtures';

// The strict validator (kubernetes-schema.ts) and the selector lint (selector-lint.ts) must
// refuse what the API server would refuse: each negative case starts from an object of the
// rendered prod stack that passes, changes one thing, and expects exactly that to be reported.

let run: ProgramRun;
beforeAll(async () => { run = await runProd(3, 3); });

const object = (kind: string, name?: string): Record<string, any> => {
  const found = run.resources.filter((r) => r.inputs.kind === kind && (!name || r.inputs.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return structuredClone(found[0].inputs);
};
const changed = (obj: Record<string, any>, change: (o: Record<string, any>) => void) => {
  const copy = structuredClone(obj);
  change(copy);
  return copy;
};
const stackObjects = () => run.resources.filter((r) => r.type.startsWith('kubernetes:')).map((r) => structuredClone(r.inputs) as any);

describe('strict schema validation', () => {
  test('the untouched objects the negative cases start from pass', async () => {
    for (const kind of ['Deployment', 'StatefulSet', 'Service', 'Job', 'Cluster', 'ScheduledBackup', 'ObjectStore']) {
      for (const r of run.resources.filter((x) => x.inputs.kind === kind)) expect(await schemaProblems(r.inputs), `${kind} ${r.name}`).toEqual([]);
    }
  });

  test('Deployment: an unknown field at the top, in metadata, in spec, in the pod spec and in a container is refused', async () => {
    const app = object('Deployment', 'aidiary-prod-app');
    expect(await schemaProblems(changed(app, (o) => { o.bogusField = 1; }))).toEqual(['/bogusField: unknown field']);
    expect(await schemaProblems(changed(app, (o) => { o.metadata.bogusField = 'x'; }))).toEqual(['/metadata/bogusField: unknown field']);
    expect(await schemaProblems(changed(app, (o) => { o.spec.bogusField = { nested: true }; }))).toEqual(['/spec/bogusField: unknown field']);
    expect(await schemaProblems(changed(app, (o) => { o.spec.template.spec.bogusField = []; }))).toEqual(['/spec/template/spec/bogusField: unknown field']);
    expect(await schemaProblems(changed(app, (o) => { o.spec.template.spec.containers[0].bogusField = 'x'; })))
      .toEqual(['/spec/template/spec/containers/0/bogusField: unknown field']);
    // A misspelt real field is the case that matters: the probe would silently not exist.
    expect(await schemaProblems(changed(app, (o) => {
      const c = o.spec.template.spec.containers[0];
      c.readinesProbe = c.readinessProbe;
      delete c.readinessProbe;
    }))).toEqual(['/spec/template/spec/containers/0/readinesProbe: unknown field']);
    expect(await schemaProblems(changed(app, (o) => { o.spec.template.spec.containers[0].readinessProbe.httpGet.pth = '/'; })))
      .toEqual(['/spec/template/spec/containers/0/readinessProbe/httpGet/pth: unknown field']);
  });

  test('Deployment: wrong types and a missing required field are refused', async () => {
    const app = object('Deployment', 'aidiary-prod-app');
    expect(await schemaProblems(changed(app, (o) => { o.spec.replicas = '3'; }))).toEqual(['/spec/replicas: must be integer']);
    expect(await schemaProblems(changed(app, (o) => { o.spec.template.spec.containers[0].ports[0].containerPort = 'http'; })))
      .toEqual(['/spec/template/spec/containers/0/ports/0/containerPort: must be integer']);
    expect(await schemaProblems(changed(app, (o) => { o.spec.template.spec.containers[0].env[0].value = 5; })))
      .toEqual(['/spec/template/spec/containers/0/env/0/value: must be string']);
    expect(await schemaProblems(changed(app, (o) => { o.metadata.labels.tier = 1; }))).toEqual(['/metadata/labels/tier: must be string']);
    expect(await schemaProblems(changed(app, (o) => { delete o.spec.template.spec.containers[0].name; })))
      .toEqual(['/spec/template/spec/containers/0: must have required property name']);
    expect(await schemaProblems(changed(app, (o) => { o.apiVersion = 'apps/v2'; }))).toEqual(['/: no schema for apps/v2 Deployment']);
  });

  test('int-or-string and quantities take both forms, free maps take any key, other types do not', async () => {
    const app = object('Deployment', 'aidiary-prod-app');
    const ok = changed(app, (o) => {
      o.spec.strategy.rollingUpdate.maxSurge = '25%';
      o.spec.template.spec.containers[0].readinessProbe.httpGet.port = 3000;
      o.spec.template.spec.containers[0].resources.requests.cpu = 0.5;
      o.spec.template.spec.containers[0].resources.limits.memory = '768Mi';
      o.metadata.annotations = { 'example.com/anything-goes': 'yes' };
      o.spec.template.metadata.labels['example.com/extra'] = 'ok';
    });
    expect(await schemaProblems(ok)).toEqual([]);
    expect(await schemaProblems(changed(app, (o) => { o.spec.template.spec.containers[0].resources.limits.memory = true; })))
      .toEqual(expect.arrayContaining([expect.stringMatching(/^\/spec\/template\/spec\/containers\/0\/resources\/limits\/memory: must be /)]));
    expect(await schemaProblems(changed(app, (o) => { o.spec.strategy.rollingUpdate.maxSurge = { percent: 25 }; })))
      .toEqual(expect.arrayContaining([expect.stringMatching(/^\/spec\/strategy\/rollingUpdate\/maxSurge: must be /)]));
  });

  test('other kinds of the stack: Service, StatefulSet volume claim, Job', async () => {
    expect(await schemaProblems(changed(object('Service', 'aidiary-prod-lb'), (o) => { o.spec.ports[0].prot = 443; })))
      .toEqual(['/spec/ports/0/prot: unknown field']);
    expect(await schemaProblems(changed(object('StatefulSet', 'aidiary-prod-redis-sessions'), (o) => { o.spec.volumeClaimTemplates[0].spec.storageClass = 'fast'; })))
      .toEqual(['/spec/volumeClaimTemplates/0/spec/storageClass: unknown field']);
    expect(await schemaProblems(changed(object('Job'), (o) => { o.spec.backoffLimit = '6'; }))).toEqual(['/spec/backoffLimit: must be integer']);
  });

  test('CloudNativePG Cluster: unknown fields in spec, in nested settings and in a plugin; wrong types', async () => {
    const cluster = object('Cluster');
    expect(await schemaProblems(changed(cluster, (o) => { o.spec.bogusField = true; }))).toEqual(['/spec/bogusField: unknown field']);
    expect(await schemaProblems(changed(cluster, (o) => { o.spec.postgresql.synchronus = o.spec.postgresql.synchronous; })))
      .toEqual(['/spec/postgresql/synchronus: unknown field']);
    expect(await schemaProblems(changed(cluster, (o) => { o.spec.plugins[0].isWalArchiver = true; }))).toEqual(['/spec/plugins/0/isWalArchiver: unknown field']);
    expect(await schemaProblems(changed(cluster, (o) => { o.spec.bootstrap.initdb.bogusField = 1; }))).toEqual(['/spec/bootstrap/initdb/bogusField: unknown field']);
    expect(await schemaProblems(changed(cluster, (o) => { o.spec.instances = '3'; }))).toEqual(['/spec/instances: must be integer']);
    expect(await schemaProblems(changed(cluster, (o) => { o.spec.postgresql.parameters.max_connections = 200; })))
      .toEqual(['/spec/postgresql/parameters/max_connections: must be string']);
    // The in-tree backup section is still in the schema; a leftover field inside it is not.
    expect(await schemaProblems(changed(cluster, (o) => { o.spec.backup = { retentionPolicy: '30d', barmanObjectStore: { destinationPath: 's3://x', wal: { compresion: 'gzip' } } }; })))
      .toEqual(['/spec/backup/barmanObjectStore/wal/compresion: unknown field']);
  });

  test('CloudNativePG ScheduledBackup: unknown field, wrong type', async () => {
    const backup = object('ScheduledBackup');
    expect(await schemaProblems(changed(backup, (o) => { o.spec.pluginConfiguration.bogusField = 1; }))).toEqual(['/spec/pluginConfiguration/bogusField: unknown field']);
    expect(await schemaProblems(changed(backup, (o) => { o.spec.immediate = 'yes'; }))).toEqual(['/spec/immediate: must be boolean']);
  });

  test('Barman Cloud ObjectStore: envelope and configuration are both strict', async () => {
    const store = object('ObjectStore');
    expect(await schemaProblems(changed(store, (o) => { o.bogusField = 1; }))).toEqual(["/: Unrecognized key(s) in object: 'bogusField'"]);
    expect(await schemaProblems(changed(store, (o) => { o.spec.retention = '30d'; }))).toEqual(["/spec: Unrecognized key(s) in object: 'retention'"]);
    expect(await schemaProblems(changed(store, (o) => { o.spec.retentionPolicy = '30 days'; }))).toEqual(['/spec/retentionPolicy: must look like 30d, 4w or 6m']);
    expect(await schemaProblems(changed(store, (o) => { delete o.spec.configuration; }))).toEqual(['/spec/configuration: Required']);
    expect(await schemaProblems(changed(store, (o) => { o.metadata.bogusField = 1; }))).toEqual(['/metadata/bogusField: unknown field']);
    expect(await schemaProblems(changed(store, (o) => { o.spec.configuration.endpointUrl = 'https://s3'; }))).toEqual(['/spec/configuration/endpointUrl: unknown field']);
    expect(await schemaProblems(changed(store, (o) => { o.spec.configuration.wal.maxParallel = '2'; }))).toEqual(['/spec/configuration/wal/maxParallel: must be integer']);
    expect(await schemaProblems(changed(store, (o) => { o.spec.configuration.s3Credentials.accessKeyId.secret = 'x'; })))
      .toEqual(['/spec/configuration/s3Credentials/accessKeyId/secret: unknown field']);
    const sidecar = changed(store, (o) => {
      o.spec.instanceSidecarConfiguration = { logLevel: 'info', env: [{ name: 'TZ', value: 'UTC' }], resources: { limits: { memory: '256Mi' } } };
    });
    expect(await schemaProblems(sidecar)).toEqual([]);
    expect(await schemaProblems(changed(sidecar, (o) => { o.spec.instanceSidecarConfiguration.env[0].valeu = 'UTC'; })))
      .toEqual(['/spec/instanceSidecarConfiguration/env/0/valeu: unknown field']);
    expect(await schemaProblems(changed(sidecar, (o) => { o.spec.instanceSidecarConfiguration.logLevel = 'verbose'; })))
      .toEqual([expect.stringMatching(/^\/spec\/instanceSidecarConfiguration\/logLevel: Invalid enum value/)]);
  });

  test('generic by apiVersion and kind: a NetworkPolicy is checked too; an unknown kind is an error, never skipped', async () => {
    const policy = {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'aidiary-prod' },
      spec: { podSelector: { matchLabels: { a: 'b' } }, policyTypes: ['Ingress'], ingress: [{ ports: [{ port: 'http', protocol: 'TCP' }] }] },
    };
    expect(await schemaProblems(policy)).toEqual([]);
    expect(await schemaProblems(changed(policy, (o) => { o.spec.ingress[0].form = []; }))).toEqual(['/spec/ingress/0/form: unknown field']);
    expect(await schemaProblems({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).toEqual(['/: no schema for example.com/v1 Widget']);
    expect(await schemaProblems({ apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'w' } })).toEqual(['/: no schema for apps/v1 Deploymnet']);
    expect(await schemaProblems({ apiVersion: 'postgresql.cnpg.io/v1', kind: 'Clustr', metadata: { name: 'w' } })).toEqual(['/: no schema for postgresql.cnpg.io/v1 Clustr']);
    expect(await schemaProblems({ kind: 'Service' })).toEqual(['/: apiVersion and kind must be strings']);
  });
});

describe('selector lint', () => {
  const withChange = (kind: string, name: string, change: (o: Record<string, any>) => void) =>
    stackObjects().map((o) => (o.kind === kind && o.metadata.name === name ? changed(o, change) : o));

  test('the rendered stack passes', () => {
    expect(selectorProblems(stackObjects())).toEqual([]);
  });

  test('a Service selector that matches no pod, or several workloads, fails', () => {
    expect(selectorProblems(withChange('Service', 'aidiary-prod-lb', (o) => { o.spec.selector['app.kubernetes.io/component'] = 'edge'; })))
      .toEqual(['Service/aidiary-prod-lb .spec.selector: must select one workload, selects no workload']);
    const everyTier = 'Cluster/aidiary-prod-db, Deployment/aidiary-prod-app, Deployment/aidiary-prod-nginx, Job/aidiary-prod-migrate-'
      + `${object('Job').metadata.name.split('-').pop()}, StatefulSet/aidiary-prod-redis-cache, StatefulSet/aidiary-prod-redis-sessions`;
    expect(selectorProblems(withChange('Service', 'aidiary-prod-app', (o) => { delete o.spec.selector['app.kubernetes.io/component']; })))
      .toEqual([`Service/aidiary-prod-app .spec.selector: must select one workload, selects ${everyTier}`]);
  });

  test('a PodDisruptionBudget, a workload selector and a spread constraint that drift from the pod labels fail', () => {
    expect(selectorProblems(withChange('PodDisruptionBudget', 'aidiary-prod-app', (o) => { o.spec.selector = { matchExpressions: [{ key: 'app.kubernetes.io/component', operator: 'In', values: ['app', 'nginx'] }] }; })))
      .toEqual(['PodDisruptionBudget/aidiary-prod-app .spec.selector: must select one workload, selects Deployment/aidiary-prod-app, Deployment/aidiary-prod-nginx']);
    expect(selectorProblems(withChange('Deployment', 'aidiary-prod-nginx', (o) => { o.spec.template.metadata.labels['app.kubernetes.io/component'] = 'edge'; })))
      .toEqual(expect.arrayContaining([
        'Service/aidiary-prod-lb .spec.selector: must select one workload, selects no workload',
        "Deployment/aidiary-prod-nginx .spec.selector: must select Deployment/aidiary-prod-nginx's own pods only, selects no workload",
        "Deployment/aidiary-prod-nginx topologySpreadConstraints[0]: must select Deployment/aidiary-prod-nginx's own pods only, selects no workload",
        'PodDisruptionBudget/aidiary-prod-nginx .spec.selector: must select one workload, selects no workload',
      ]));
    expect(selectorProblems(withChange('Deployment', 'aidiary-prod-app', (o) => { o.spec.selector = {}; })))
      .toEqual(['Deployment/aidiary-prod-app .spec.selector: empty selector selects every pod']);
  });

  test('CloudNativePG instance pods count as a workload; NetworkPolicy selectors are checked', () => {
    const objects = stackObjects();
    const cluster = objects.find((o) => o.kind === 'Cluster')!;
    const dbService = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db-extra' }, spec: { selector: { 'cnpg.io/cluster': cluster.metadata.name } } };
    const policy = (podSelector: object, from: object[]) => ({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'db-ingress' },
      spec: { podSelector, ingress: [{ from }] },
    });
    const dbPods = { matchLabels: cluster.spec.inheritedMetadata.labels };
    const appPods = { matchLabels: objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'aidiary-prod-app')!.spec.template.metadata.labels };
    expect(selectorProblems([...objects, dbService, policy(dbPods, [{ podSelector: appPods }, { namespaceSelector: {}, podSelector: { matchLabels: { x: 'y' } } }])])).toEqual([]);
    // A default-deny policy selects every pod on purpose.
    expect(selectorProblems([...objects, policy({}, [])])).toEqual([]);
    expect(selectorProblems([...objects, policy({ matchLabels: { 'cnpg.io/cluster': 'aidiary-prod-database' } }, [{ podSelector: { matchLabels: { role: 'app' } } }])])).toEqual([
      'NetworkPolicy/db-ingress .spec.podSelector: must select one workload, selects no workload',
      'NetworkPolicy/db-ingress ingress[0].from: selects no workload',
    ]);
  });
});

describe('point-in-time recovery Cluster', () => {
  const targetTime = '2026-12-01 09:30:00+00';

  test('renders from the running Cluster, validates strictly, recovers from the plugin\'s object store and archives under a new name', async () => {
    const current = object('Cluster') as ClusterObject;
    const recovered = recoveryCluster(current, { targetTime, archiveServerName: 'aidiary-prod-db-r1' });
    expect(await schemaProblems(recovered)).toEqual([]);
    expect(recovered.metadata).toEqual({ name: current.metadata.name, namespace: 'aidiary-prod', labels: current.metadata.labels });
    const { bootstrap, externalClusters, plugins, ...rest } = recovered.spec;
    expect(bootstrap).toEqual({
      recovery: {
        source: 'origin', database: 'aidiary', owner: 'aidiary', secret: current.spec.bootstrap.initdb.secret,
        recoveryTarget: { targetTime },
      },
    });
    const store = current.spec.plugins[0].parameters.barmanObjectName;
    expect(externalClusters).toEqual([{ name: 'origin', plugin: { name: 'barman-cloud.cloudnative-pg.io', parameters: { barmanObjectName: store, serverName: current.metadata.name } } }]);
    expect(plugins).toEqual([{ name: 'barman-cloud.cloudnative-pg.io', isWALArchiver: true, parameters: { barmanObjectName: store, serverName: 'aidiary-prod-db-r1' } }]);
    // Everything else (instances, storage, parameters, resources, image) carries over.
    const { bootstrap: _b, plugins: _p, ...unchanged } = current.spec;
    expect(rest).toEqual(unchanged);
    // A second recovery reads from where the first one archived.
    const again = recoveryCluster(recovered, { targetTime: '2026-12-02T08:00:00Z', archiveServerName: 'aidiary-prod-db-r2' });
    expect(again.spec.externalClusters[0].plugin.parameters.serverName).toBe('aidiary-prod-db-r1');
    expect(again.spec.bootstrap.recovery.secret).toEqual(current.spec.bootstrap.initdb.secret);
    expect(await schemaProblems(again)).toEqual([]);
  });

  test('refuses a target time without a zone, the origin\'s own archive folder, and a cluster without the plugin', () => {
    const current = object('Cluster') as ClusterObject;
    expect(() => recoveryCluster(current, { targetTime: '2026-12-01 09:30:00', archiveServerName: 'r1' })).toThrow(/expected a timestamp with its zone/);
    expect(() => recoveryCluster(current, { targetTime: 'yesterday', archiveServerName: 'r1' })).toThrow(/expected a timestamp with its zone/);
    expect(() => recoveryCluster(current, { targetTime, archiveServerName: current.metadata.name })).toThrow(/is the origin's: pick a new one, e\.g\. aidiary-prod-db-r1/);
    expect(() => recoveryCluster(current, { targetTime, archiveServerName: 'Bad_Name' })).toThrow(/use lowercase letters, digits and dashes/);
    expect(() => recoveryCluster(changed(current, (o) => { delete o.spec.plugins; }) as ClusterObject, { targetTime, archiveServerName: 'r1' })).toThrow(/no barman-cloud\.cloudnative-pg\.io WAL archiver/);
  });

  test('the operator command reads the Cluster JSON on stdin and prints the recovery Cluster', async () => {
    const current = object('Cluster');
    const cli = (args: string[], stdin: string) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, ['--import', 'tsx', 'infra/kubernetes/recovery-cluster-cli.ts', ...args], (err, stdout, stderr) => resolve({ code: err ? (err.code as number) : 0, stdout, stderr }));
      child.stdin!.end(stdin);
    });
    const ok = await cli(['--target-time', targetTime, '--archive-as', 'aidiary-prod-db-r1'], JSON.stringify({ ...current, status: { phase: 'Cluster in healthy state' } }));
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual(recoveryCluster(current as ClusterObject, { targetTime, archiveServerName: 'aidiary-prod-db-r1' }));
    const bad = await cli(['--target-time', '2026-12-01 09:30', '--archive-as', 'aidiary-prod-db-r1'], JSON.stringify(current));
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('recovery-cluster: target time "2026-12-01 09:30": expected a timestamp with its zone, e.g. 2026-12-01 09:30:00+00');
    const usage = await cli([], '');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^recovery-cluster: usage: /);
  }, 30_000);
});
