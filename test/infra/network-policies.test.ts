import { beforeAll, describe, expect, test } from 'vitest';
import { networkFlows, type Flow, type NetworkSettings, type Party, type Protocol } from '../../infra/kubernetes/network-flows';
import { networkPolicyManifests } from '../../infra/kubernetes/network-policies';
import { parseTopology } from '../../infra/topology';
import { schemaProblems } from './kubernetes-schema';
import { connectionAllowed, inCidr, type Endpoint, type Policy } from './network-policy-eval';
import type { ProgramRun, RecordedResource } from './pulumi-harness';
import { podGroups, selectorProblems } from './selector-lint';
import { runProd } from './stack-fixtures';

// The prod stack's NetworkPolicies against the flow matrix (infra/kubernetes/network-flows.ts),
// both ways: every flow of the matrix is allowed between real endpoints of its two parties, and
// every other connection among the stack's pods, pods of other namespaces and outside addresses,
// on every port the matrix uses plus some it must not, is denied. Endpoints carry the labels the
// rendered workloads give their pods; the policies are the ones the Pulumi program creates.

const NS = 'aidiary-prod';
const K = {
  policy: 'kubernetes:networking.k8s.io/v1:NetworkPolicy',
  namespace: 'kubernetes:core/v1:Namespace',
  deployment: 'kubernetes:apps/v1:Deployment',
  statefulSet: 'kubernetes:apps/v1:StatefulSet',
  job: 'kubernetes:batch/v1:Job',
  cluster: 'kubernetes:postgresql.cnpg.io/v1:Cluster',
};

interface Party$ { endpoint: Endpoint; party: Party | null }

/** The parties' endpoints: the stack's pods (by their rendered labels), other pods, outside addresses. */
function endpoints(run: ProgramRun): Party$[] {
  const nsLabels = { 'kubernetes.io/metadata.name': NS, ...run.one(K.namespace).inputs.metadata.labels };
  let ip = 10;
  const pod = (name: string, labels: Record<string, string>, party: Party | null, namespace = NS, namespaceLabels = nsLabels): Party$ => ({
    endpoint: { name, ip: `10.244.1.${ip++}`, pod: { namespace, namespaceLabels, labels } }, party,
  });
  const other = (namespace: string) => ({ 'kubernetes.io/metadata.name': namespace });
  const byName = (type: string, name: string) => run.byType(type).find((r) => r.inputs.metadata.name === name)!;
  const template = (r: RecordedResource) => r.inputs.spec.template.metadata.labels;
  const cluster = run.one(K.cluster);
  const [instanceLabels] = podGroups([cluster.inputs as any]).map((g) => g.labels);
  return [
    pod('nginx-a', template(byName(K.deployment, 'aidiary-prod-nginx')), 'edge'),
    pod('app-a', template(byName(K.deployment, 'aidiary-prod-app')), 'app'),
    pod('app-b', template(byName(K.deployment, 'aidiary-prod-app')), 'app'),
    pod('migrate', template(run.one(K.job)), 'migrate'),
    pod('redis-sessions', template(byName(K.statefulSet, 'aidiary-prod-redis-sessions')), 'redis-sessions'),
    pod('redis-cache', template(byName(K.statefulSet, 'aidiary-prod-redis-cache')), 'redis-cache'),
    pod('pg-1', { ...instanceLabels, 'cnpg.io/instanceName': 'aidiary-prod-db-1', 'cnpg.io/instanceRole': 'primary' }, 'postgres'),
    pod('pg-2', { ...instanceLabels, 'cnpg.io/instanceName': 'aidiary-prod-db-2', 'cnpg.io/instanceRole': 'replica' }, 'postgres'),
    // The operator's join Job clones a new instance from the primary; its pod carries the cluster label.
    pod('pg-3-join', { ...cluster.inputs.spec.inheritedMetadata.labels, 'cnpg.io/cluster': cluster.inputs.metadata.name, 'cnpg.io/jobRole': 'join' }, 'postgres'),
    pod('debug-pod', { run: 'debug' }, null),
    pod('cnpg-operator', { 'app.kubernetes.io/name': 'cloudnative-pg' }, 'cnpg-operator', 'cnpg-system', other('cnpg-system')),
    pod('cnpg-other', { 'app.kubernetes.io/name': 'plugin-barman-cloud' }, null, 'cnpg-system', other('cnpg-system')),
    pod('scraper', { 'app.kubernetes.io/name': 'prometheus' }, 'metrics-scraper', 'monitoring', other('monitoring')),
    pod('kube-dns', { 'k8s-app': 'kube-dns' }, 'cluster-dns', 'kube-system', other('kube-system')),
    pod('metrics-server', { 'k8s-app': 'metrics-server' }, null, 'kube-system', other('kube-system')),
    pod('stranger', { app: 'aidiary' }, null, 'default', other('default')),
    { endpoint: { name: 'client 203.0.113.5', ip: '203.0.113.5' }, party: null },
    { endpoint: { name: 'api server 10.96.0.1', ip: '10.96.0.1' }, party: null },
    { endpoint: { name: 'object store 198.51.100.7', ip: '198.51.100.7' }, party: null },
  ];
}

const inNamespace = (e: Endpoint) => e.pod?.namespace === NS;

/** Whether an endpoint is the party of a flow: in-namespace pods are only their own workload. */
function isParty(party: Party, p: Party$, n: NetworkSettings): boolean {
  if (p.party === party) return true;
  if (inNamespace(p.endpoint)) return false;
  if (party === 'clients') return true;
  if (party === 'kubernetes-api') return inCidr(p.endpoint.ip, n.kubernetesApiCidr);
  if (party === 'backup-store') return inCidr(p.endpoint.ip, n.backupEgressCidr);
  return false;
}

const probePorts = [22, 53, 80, 443, 3001, 5433, 6379, 8080, 8443, 9000, 9113, 6443];

describe.each([
  { label: 'defaults', extra: {} as Record<string, string>, backup: '0.0.0.0/0', metrics: 'monitoring' },
  {
    label: 'a fixed object store range and another monitoring namespace',
    extra: { backupEgressCidr: '198.51.100.0/24', metricsNamespace: 'observability', backupEndpointUrl: 'https://minio.example:9000' },
    backup: '198.51.100.0/24', metrics: 'observability',
  },
])('prod NetworkPolicies ($label)', ({ extra, backup, metrics }) => {
  const t = parseTopology({ name: 'aidiary-prod', target: 'kubernetes', host: '0.0.0.0', appReplicas: 3, dbReplicas: 2, siteUrl: 'https://blog.example.com' });
  const network: NetworkSettings = {
    kubernetesApiCidr: '10.96.0.1/32', backupEgressCidr: backup, backupPort: extra.backupEndpointUrl ? 9000 : 443, metricsNamespace: metrics, cnpgNamespace: 'cnpg-system',
  };
  let run: ProgramRun;
  let policies: Policy[];
  let parties: Party$[];
  const flows: Flow[] = networkFlows(t, network);
  beforeAll(async () => {
    run = await runProd(3, 2, extra);
    policies = run.byType(K.policy).map((r) => r.inputs as Policy);
    parties = endpoints(run);
    if (metrics !== 'monitoring') {
      const scraper = parties.find((p) => p.endpoint.name === 'scraper')!.endpoint.pod!;
      scraper.namespace = metrics;
      scraper.namespaceLabels = { 'kubernetes.io/metadata.name': metrics };
    }
  });

  test('the stack declares exactly the rendered matrix: a default deny plus one policy per workload', () => {
    expect(policies.map((p) => p.metadata.name).sort()).toEqual(networkPolicyManifests(t, network, NS).map((m) => m.metadata.name).sort());
    for (const m of networkPolicyManifests(t, network, NS)) {
      const declared = run.byType(K.policy).find((r) => r.inputs.metadata.name === m.metadata.name)!.inputs;
      expect(declared).toEqual(m);
    }
    const deny = policies.find((p) => p.metadata.name === 'aidiary-prod-default-deny')!;
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    // Every workload waits for the policies: no pod runs on an open network.
    const policyUrns = run.byType(K.policy).map((r) => r.urn);
    for (const w of [...run.byType(K.statefulSet), run.one(K.cluster)]) {
      expect(w.dependencies.some((d) => policyUrns.includes(d)) || w.dependencies.some((d) => d.includes('NetworkPolicies')), w.name).toBe(true);
    }
  });

  test('the policies pass the strict schema and the selector lint', async () => {
    for (const p of run.byType(K.policy)) expect(await schemaProblems(p.inputs), p.name).toEqual([]);
    const objects = run.resources.filter((r) => r.type.startsWith('kubernetes:')).map((r) => r.inputs as any);
    expect(selectorProblems(objects)).toEqual([]);
  });

  test('each flow of the matrix is allowed between every pair of its parties\' endpoints', () => {
    for (const f of flows) {
      const sources = parties.filter((p) => isParty(f.from, p, network));
      const targets = parties.filter((p) => isParty(f.to, p, network));
      expect(sources.length, `${f.from}: no endpoint`).toBeGreaterThan(0);
      expect(targets.length, `${f.to}: no endpoint`).toBeGreaterThan(0);
      for (const s of sources) {
        for (const d of targets) {
          if (s === d || !(inNamespace(s.endpoint) || inNamespace(d.endpoint))) continue;
          expect(connectionAllowed(policies, s.endpoint, d.endpoint, f.port, f.protocol), `${s.endpoint.name} → ${d.endpoint.name}:${f.port}/${f.protocol} (${f.why})`).toBe(true);
        }
      }
    }
  });

  test('nothing else is allowed: every other connection touching the namespace is denied', () => {
    const ports = [...new Set([...flows.map((f) => f.port), ...probePorts])];
    const unexpected: string[] = [];
    let checked = 0;
    for (const s of parties) {
      for (const d of parties) {
        if (s === d || !(inNamespace(s.endpoint) || inNamespace(d.endpoint))) continue;
        for (const port of ports) {
          for (const protocol of ['TCP', 'UDP'] as Protocol[]) {
            checked++;
            const expected = flows.some((f) => f.port === port && f.protocol === protocol && isParty(f.from, s, network) && isParty(f.to, d, network));
            const actual = connectionAllowed(policies, s.endpoint, d.endpoint, port, protocol);
            if (actual !== expected) unexpected.push(`${s.endpoint.name} → ${d.endpoint.name}:${port}/${protocol}: ${actual ? 'allowed, not in the matrix' : 'denied, but the matrix needs it'}`);
          }
        }
      }
    }
    expect(unexpected).toEqual([]);
    expect(checked).toBeGreaterThan(5000);
    // Spot checks that the walk is not vacuous.
    const at = (name: string) => parties.find((p) => p.endpoint.name === name)!.endpoint;
    expect(connectionAllowed(policies, at('debug-pod'), at('redis-sessions'), t.ports.redisSessions, 'TCP')).toBe(false);
    expect(connectionAllowed(policies, at('stranger'), at('redis-cache'), t.ports.redisCache, 'TCP')).toBe(false);
    expect(connectionAllowed(policies, at('nginx-a'), at('redis-sessions'), t.ports.redisSessions, 'TCP')).toBe(false);
    expect(connectionAllowed(policies, at('app-a'), at('api server 10.96.0.1'), 443, 'TCP')).toBe(false);
    expect(connectionAllowed(policies, at('client 203.0.113.5'), at('app-a'), t.ports.appBase, 'TCP')).toBe(false);
    expect(connectionAllowed(policies, at('debug-pod'), at('kube-dns'), 53, 'UDP')).toBe(false);
  });

  test('every port a workload of the namespace declares is reached by a flow of the matrix', () => {
    const declared: { party: Party; port: number }[] = [
      ...run.byType(K.deployment), ...run.byType(K.statefulSet),
    ].flatMap((w) => {
      const party = parties.find((p) => p.endpoint.pod && JSON.stringify(p.endpoint.pod.labels) === JSON.stringify(w.inputs.spec.template.metadata.labels))!.party!;
      return w.inputs.spec.template.spec.containers.flatMap((c: { ports?: { containerPort: number }[] }) => (c.ports ?? []).map((p) => ({ party, port: p.containerPort })));
    });
    expect(declared.length).toBeGreaterThanOrEqual(4);
    for (const d of declared) expect(flows.some((f) => f.to === d.party && f.port === d.port), `${d.party}:${d.port}`).toBe(true);
  });
});

test('kubernetesApiCidr is required on Kubernetes, and a CIDR is checked, naming the fix', async () => {
  await expect(runProd(1, 1, { kubernetesApiCidr: '' })).rejects.toThrow(/kubernetesApiCidr: required on target kubernetes; run `kubectl get endpoints kubernetes -n default`/);
  await expect(runProd(1, 1, { kubernetesApiCidr: '10.0.0.300/32' })).rejects.toThrow(/kubernetesApiCidr: expected a CIDR such as 10\.0\.0\.1\/32, got "10\.0\.0\.300\/32"/);
  await expect(runProd(1, 1, { backupEgressCidr: 'anywhere' })).rejects.toThrow(/backupEgressCidr: expected a CIDR/);
});
