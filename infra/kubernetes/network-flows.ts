import { redisInstances, type Topology } from '../topology';
import { tierLabels } from './labels';
import { kubernetesNames } from './names';

// The prod namespace's network, written once as a matrix: every connection the system needs,
// source → destination : port. Nothing else is allowed: network-policies.ts renders a default
// deny for the namespace plus, per workload, exactly these flows (ingress on the destination's
// side, egress on the source's), and test/infra/network-policies.test.ts walks the rendered
// policies against this list both ways.

/** Who talks. In-namespace workloads are selected by their pods' labels. */
export type Party =
  | 'clients' // browsers and the load balancer in front of the edge: any address
  | 'edge' // nginx
  | 'app'
  | 'migrate' // the migration Job of a release
  | 'redis-sessions'
  | 'redis-cache'
  | 'postgres' // CloudNativePG instance pods (and the operator's join/initdb Job pods of the same cluster)
  | 'cnpg-operator' // the CloudNativePG operator, in its own namespace
  | 'metrics-scraper' // Prometheus (or an agent) in the monitoring namespace
  | 'cluster-dns' // kube-dns / CoreDNS in kube-system
  | 'kubernetes-api' // the API server's endpoint addresses
  | 'backup-store' // the S3-compatible object store of WAL archives and base backups
  | 'cdn-api'; // the CDN's purge API (or the operator's Varnish), when a CDN is configured

export type Protocol = 'TCP' | 'UDP';

export interface Flow {
  from: Party;
  to: Party;
  port: number;
  protocol: Protocol;
  /** Why the system needs it (shown in the test's failure messages). */
  why: string;
}

/** How a party is selected in a NetworkPolicy peer. */
export type PartySelector =
  | { kind: 'pods'; podLabels: Record<string, string> } // in the stack's namespace
  | { kind: 'namespace-pods'; namespaceLabels: Record<string, string>; podLabels?: Record<string, string> }
  | { kind: 'cidr'; cidr: string }
  | { kind: 'anywhere' };

export interface NetworkSettings {
  /** The API server's endpoint addresses (`kubectl get endpoints kubernetes -n default`). */
  kubernetesApiCidr: string;
  /** Where the object store lives; 0.0.0.0/0 when it has no fixed range (AWS S3). */
  backupEgressCidr: string;
  /** The object store's port (from backupEndpointUrl; 443 for AWS S3). */
  backupPort: number;
  /** Namespace whose pods scrape metrics (Prometheus). */
  metricsNamespace: string;
  /** Namespace of the CloudNativePG operator. */
  cnpgNamespace: string;
  /** The CDN purge API the apps call (cdnProvider); absent or null: no CDN, no such flow. */
  cdnEgress?: { cidr: string; port: number } | null;
}

/** PostgreSQL and the CloudNativePG instance manager's ports on each instance pod. */
export const postgresPort = 5432;
export const cnpgStatusPort = 8000;
export const postgresMetricsPort = 9187;
/** The edge pods' nginx exporter sidecar (monitoring: prometheus-operator, infra/kubernetes/monitoring.ts). */
export const edgeMetricsPort = 9113;
/** kube-apiserver listens on 6443 (self-managed) or 443 (most managed clusters) behind `kubernetes.default`. */
export const kubernetesApiPorts = [443, 6443];

const namespaceLabel = (name: string) => ({ 'kubernetes.io/metadata.name': name });

/** Every party's selector for this stack. */
export function partySelectors(t: Topology, n: NetworkSettings): Record<Party, PartySelector> {
  const pods = (component: string): PartySelector => ({ kind: 'pods', podLabels: tierLabels(t, component) });
  return {
    clients: { kind: 'anywhere' },
    edge: pods('nginx'),
    app: pods('app'),
    migrate: pods('migrate'),
    'redis-sessions': pods('redis-sessions'),
    'redis-cache': pods('redis-cache'),
    postgres: { kind: 'pods', podLabels: { 'cnpg.io/cluster': kubernetesNames(t).dbCluster } },
    'cnpg-operator': { kind: 'namespace-pods', namespaceLabels: namespaceLabel(n.cnpgNamespace), podLabels: { 'app.kubernetes.io/name': 'cloudnative-pg' } },
    'metrics-scraper': { kind: 'namespace-pods', namespaceLabels: namespaceLabel(n.metricsNamespace) },
    'cluster-dns': { kind: 'namespace-pods', namespaceLabels: namespaceLabel('kube-system'), podLabels: { 'k8s-app': 'kube-dns' } },
    'kubernetes-api': { kind: 'cidr', cidr: n.kubernetesApiCidr },
    'backup-store': { kind: 'cidr', cidr: n.backupEgressCidr },
    // Only selected by a flow when a CDN is configured.
    'cdn-api': { kind: 'cidr', cidr: n.cdnEgress?.cidr ?? '0.0.0.0/0' },
  };
}

/** The workloads of the namespace (each gets its own policy). */
export const namespaceParties = ['edge', 'app', 'migrate', 'redis-sessions', 'redis-cache', 'postgres'] as const satisfies readonly Party[];

/** The matrix: every flow the prod stack needs. */
export function networkFlows(t: Topology, n: NetworkSettings): Flow[] {
  const redis = Object.fromEntries(redisInstances(t).map((r) => [r.role, r.port])) as Record<'sessions' | 'cache', number>;
  const tcp = (from: Party, to: Party, port: number, why: string): Flow => ({ from, to, port, protocol: 'TCP', why });
  const dns = namespaceParties.flatMap((p): Flow[] => [
    { from: p, to: 'cluster-dns', port: 53, protocol: 'UDP', why: 'name lookups' },
    { from: p, to: 'cluster-dns', port: 53, protocol: 'TCP', why: 'name lookups (truncated answers)' },
  ]);
  return [
    tcp('clients', 'edge', t.ports.lb, 'the site over TLS (the Service forwards 443 here)'),
    ...dns,
    tcp('edge', 'app', t.ports.appBase, 'nginx proxies to the apps'),
    tcp('app', 'postgres', postgresPort, 'reads and writes through the -rw / -ro Services'),
    tcp('migrate', 'postgres', postgresPort, 'migrations on the primary'),
    tcp('app', 'redis-sessions', redis.sessions, 'sessions, login limits, job queues'),
    tcp('app', 'redis-cache', redis.cache, 'L2 pages, render locks, invalidation'),
    tcp('postgres', 'postgres', postgresPort, 'streaming replication, pg_basebackup / pg_rewind of joining instances'),
    ...kubernetesApiPorts.map((port) => tcp('postgres', 'kubernetes-api', port, 'the instance manager watches its Cluster and Secrets')),
    tcp('postgres', 'backup-store', n.backupPort, 'WAL archiving and base backups (Barman Cloud plugin)'),
    tcp('cnpg-operator', 'postgres', cnpgStatusPort, 'the operator polls each instance manager'),
    tcp('cnpg-operator', 'postgres', postgresPort, 'the operator connects to PostgreSQL'),
    tcp('metrics-scraper', 'app', t.ports.appBase, 'app /metrics'),
    tcp('metrics-scraper', 'postgres', postgresMetricsPort, 'PostgreSQL metrics of the instance manager'),
    tcp('metrics-scraper', 'edge', edgeMetricsPort, 'nginx exporter sidecar of the edge pods (with monitoring: prometheus-operator)'),
    ...(n.cdnEgress ? [tcp('app', 'cdn-api', n.cdnEgress.port, 'CDN purges after writes (the cdn-purge job queue)')] : []),
  ];
}
