import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { alertRules, productionProfile } from '../../infra/observability/alert-rules';
import { aidiaryQueries } from '../../infra/observability/postgres-queries';
import { schemaProblems } from './kubernetes-schema';
import type { ProgramRun } from './pulumi-harness';
import { runProd, runStaging, tempDir } from './stack-fixtures';

// The prod stack's optional monitoring (`monitoring: prometheus-operator`): PodMonitors for the
// apps and CloudNativePG's exporter, the alert rules as a PrometheusRule, our PostgreSQL queries as
// CloudNativePG custom queries. Every object is validated against the strict schemas
// (kubernetes-schema.ts, prometheus-operator models from npm), and each monitor is checked to
// select pods that exist in the stack, on a port those pods declare.

let monitored: ProgramRun;
let plain: ProgramRun;
beforeAll(async () => {
  // one at a time: the Pulumi mocks are process-wide
  monitored = await runProd(3, 2, { monitoring: 'prometheus-operator' });
  plain = await runProd(3, 2);
}, 60_000);

const ofKind = (run: ProgramRun, kind: string) => run.resources.filter((r) => r.inputs?.kind === kind).map((r) => structuredClone(r.inputs) as Record<string, any>);
const podMonitor = (suffix: string) => {
  const found = ofKind(monitored, 'PodMonitor').filter((m) => m.metadata.name.endsWith(suffix));
  expect(found).toHaveLength(1);
  return found[0];
};
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('prod monitoring resources (monitoring: prometheus-operator)', () => {
  test('declares three PodMonitors, one PrometheusRule and the custom-queries ConfigMap; none without the key', () => {
    expect(ofKind(monitored, 'PodMonitor').map((m) => m.metadata.name).sort()).toEqual(['aidiary-prod-app', 'aidiary-prod-edge', 'aidiary-prod-postgres']);
    expect(ofKind(monitored, 'PrometheusRule')).toHaveLength(1);
    expect(ofKind(plain, 'PodMonitor')).toEqual([]);
    expect(ofKind(plain, 'PrometheusRule')).toEqual([]);
    expect(ofKind(plain, 'Cluster')[0].spec.monitoring).toBeUndefined();
    expect(ofKind(plain, 'ConfigMap').filter((c) => c.metadata.name.endsWith('-monitoring-queries'))).toEqual([]);
  });

  test('every object of the monitored stack passes the strict schemas', async () => {
    const objects = monitored.resources.filter((r) => r.type.startsWith('kubernetes:')).map((r) => r.inputs);
    expect(objects.filter((o) => String(o.apiVersion).startsWith('monitoring.coreos.com/')).length).toBe(4);
    for (const o of objects) expect(await schemaProblems(o), `${o.kind} ${o.metadata?.name}`).toEqual([]);
  });

  test('the strict schemas refuse a misspelt field in a PodMonitor and in a PrometheusRule', async () => {
    const pm = podMonitor('-app');
    pm.spec.podMetricsEndpoints[0].pth = pm.spec.podMetricsEndpoints[0].path;
    delete pm.spec.podMetricsEndpoints[0].path;
    expect(await schemaProblems(pm)).toEqual(['/spec/podMetricsEndpoints/0/pth: unknown field']);
    const rule = ofKind(monitored, 'PrometheusRule')[0];
    rule.spec.groups[0].rules[0].fr = rule.spec.groups[0].rules[0].for;
    delete rule.spec.groups[0].rules[0].for;
    expect(await schemaProblems(rule)).toEqual(['/spec/groups/0/rules/0/fr: unknown field']);
    const bad = ofKind(monitored, 'PrometheusRule')[0];
    bad.spec.groups[0].rules[0].labels.severity = 3;
    expect((await schemaProblems(bad)).join('\n')).toMatch(/labels\/severity: must be string/);
  });

  test('the app PodMonitor selects the app pods on their declared metrics port, with the rules\' job name', () => {
    const pm = podMonitor('-app');
    const deployment = ofKind(monitored, 'Deployment').find((d) => d.metadata.name === 'aidiary-prod-app')!;
    const pod = deployment.spec.template;
    expect(matches(pm.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    const ep = pm.spec.podMetricsEndpoints[0];
    expect(pod.spec.containers.flatMap((c: any) => c.ports ?? []).map((p: any) => p.name)).toContain(ep.port);
    expect(ep.path).toBe('/metrics');
    expect(ep.relabelings).toEqual([{ targetLabel: 'job', replacement: 'aidiary-app', action: 'replace' }]);
    // it selects nothing else: not the edge, not PostgreSQL
    for (const other of ofKind(monitored, 'Deployment').filter((d) => d.metadata.name !== deployment.metadata.name)) {
      expect(matches(pm.spec.selector.matchLabels, other.spec.template.metadata.labels), other.metadata.name).toBe(false);
    }
  });

  test('the edge PodMonitor selects the nginx pods, whose exporter sidecar reads stub_status on the pod\'s loopback; no sidecar without the key', () => {
    const pm = podMonitor('-edge');
    const nginx = (run: ProgramRun) => ofKind(run, 'Deployment').find((d) => d.metadata.name === 'aidiary-prod-nginx')!;
    const pod = nginx(monitored).spec.template;
    expect(matches(pm.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    const sidecar = pod.spec.containers.find((c: any) => c.name === 'nginx-exporter');
    expect(sidecar.ports).toEqual([{ name: pm.spec.podMetricsEndpoints[0].port, containerPort: 9113 }]);
    const conf = ofKind(monitored, 'ConfigMap').find((c) => c.data?.['nginx.conf'])!.data['nginx.conf'] as string;
    const stub = /listen 127\.0\.0\.1:(\d+);[\s\S]*?location = \/stub_status/.exec(conf)!;
    expect(sidecar.args).toContain(`--nginx.scrape-uri=http://127.0.0.1:${stub[1]}/stub_status`);
    expect(pm.spec.podMetricsEndpoints[0].relabelings).toEqual([{ targetLabel: 'job', replacement: 'aidiary-edge', action: 'replace' }]);
    expect(nginx(plain).spec.template.spec.containers.map((c: any) => c.name)).toEqual(['nginx']);
    // the NetworkPolicy of the edge admits the scraper on that port
    const edgePolicies = ofKind(monitored, 'NetworkPolicy').filter((p) => p.spec.podSelector.matchLabels && matches(p.spec.podSelector.matchLabels, pod.metadata.labels));
    expect(JSON.stringify(edgePolicies.map((p) => p.spec.ingress))).toContain('"port":9113');
  });

  test('the PostgreSQL PodMonitor selects the CloudNativePG instances (labels the Cluster gives its pods) and reads the custom queries', () => {
    const pm = podMonitor('-postgres');
    const cluster = ofKind(monitored, 'Cluster')[0];
    const podLabels = { ...cluster.spec.inheritedMetadata.labels, 'cnpg.io/podRole': 'instance', 'cnpg.io/cluster': cluster.metadata.name };
    expect(matches(pm.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(pm.spec.podMetricsEndpoints[0].port).toBe('metrics');
    const ref = cluster.spec.monitoring.customQueriesConfigMap;
    expect(ref).toHaveLength(1);
    const cm = ofKind(monitored, 'ConfigMap').find((c) => c.metadata.name === ref[0].name)!;
    expect(cm, 'the ConfigMap the Cluster names').toBeDefined();
    const queries = JSON.parse(cm.data[ref[0].key]);
    expect(Object.keys(queries).sort()).toEqual(Object.keys(aidiaryQueries).sort());
    for (const q of Object.values(queries) as any[]) {
      expect(typeof q.query).toBe('string');
      for (const m of q.metrics) for (const col of Object.values(m) as any[]) expect(['LABEL', 'GAUGE', 'COUNTER']).toContain(col.usage);
    }
    // the ConfigMap exists before the Cluster that reads it
    const clusterRes = monitored.resources.find((r) => r.inputs?.kind === 'Cluster')!;
    const cmRes = monitored.resources.find((r) => r.inputs?.metadata?.name === ref[0].name)!;
    expect(clusterRes.dependencies).toContain(cmRes.urn);
  });

  test('the PrometheusRule carries exactly the production rules, and promtool accepts them as a rules file', () => {
    const rule = ofKind(monitored, 'PrometheusRule')[0];
    expect(rule.spec.groups).toEqual(alertRules(productionProfile));
    const dir = tempDir('aidiary-prometheusrule-');
    writeFileSync(join(dir, 'rules.json'), JSON.stringify({ groups: rule.spec.groups }));
    const r = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.json')], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toContain(`SUCCESS: ${alertRules(productionProfile)[0].rules.length} rules found`);
  });

  test('a monitoring value the target does not support is a config error naming the fix', async () => {
    await expect(runProd(3, 2, { monitoring: 'prometheus' })).rejects.toThrow(/monitoring: expected none or prometheus-operator on target kubernetes, got "prometheus"; run `pulumi config set monitoring prometheus-operator`/);
    await expect(runStaging(2, 1, { monitoring: 'prometheus-operator' })).rejects.toThrow(/monitoring: expected none or prometheus on target docker, got "prometheus-operator"; run `pulumi config set monitoring prometheus`/);
  });
});
