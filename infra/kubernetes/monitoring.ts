import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import { alertRules, productionProfile } from '../observability/alert-rules';
import { aidiaryQueries } from '../observability/postgres-queries';
import type { Topology } from '../topology';
import { tierLabels } from './labels';
import { kubernetesNames } from './names';
import { edgeMetricsPort, postgresMetricsPort } from './network-flows';

/** nginx's exporter (stub_status → Prometheus format), a sidecar of the edge pods when monitoring is on. */
export const nginxExporterImage = 'nginx/nginx-prometheus-exporter:1.4.1';

/** The sidecar container: it reads stub_status on the pod's loopback (nginx/render.ts), as the local exporter does. */
export function edgeExporterContainer(t: Topology) {
  return {
    name: 'nginx-exporter',
    image: nginxExporterImage,
    args: [`--nginx.scrape-uri=http://127.0.0.1:${t.ports.stubStatus}/stub_status`, `--web.listen-address=:${edgeMetricsPort}`],
    ports: [{ name: 'metrics', containerPort: edgeMetricsPort }],
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '32Mi' } },
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
  };
}

// Scraping and alerting for clusters that run the Prometheus Operator (config key
// `monitoring: prometheus-operator`): PodMonitors for the apps' /metrics, the edge pods' nginx
// exporter sidecar (edgeExporterContainer, added to the nginx Deployment) and CloudNativePG's
// instance exporter, the alert rules (infra/observability/alert-rules.ts, production profile) as a
// PrometheusRule, and our PostgreSQL queries as CloudNativePG custom queries (the Cluster names
// the ConfigMap). Relabelling gives targets the same `job` names as the local Prometheus, so the
// rules' `up{job=…}` selectors hold everywhere. The NetworkPolicies already admit the scraper
// from the metrics namespace (network-flows.ts).

export const postgresQueriesKey = 'queries.yaml';

/** Name of the ConfigMap holding the custom queries (the Cluster's spec.monitoring refers to it). */
export function postgresQueriesConfigMapName(t: Topology): string {
  return `${kubernetesNames(t).dbCluster}-monitoring-queries`;
}

/** CloudNativePG custom queries: JSON is YAML, which is what the operator parses from the key. */
export function postgresQueriesYaml(): string {
  return `${JSON.stringify(Object.fromEntries(Object.entries(aidiaryQueries).map(([name, q]) => [name, { query: q.query, primary: false, metrics: q.metrics }])), null, 2)}\n`;
}

/** The manifests, as plain objects (the tests validate exactly these against strict schemas). */
export function monitoringManifests(t: Topology, namespace: string) {
  const meta = (name: string, component: string) => ({ name, namespace, labels: tierLabels(t, component) });
  // One PodMonitor per scraped tier, relabelled to the local Prometheus's job `aidiary-<tier>`.
  const podMonitor = (tier: string, component: string, endpoint: { port: string; path?: string }, extraSelector: Record<string, string> = {}) => ({
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: meta(`${t.name}-${tier}`, component),
    spec: {
      selector: { matchLabels: { ...tierLabels(t, component), ...extraSelector } },
      podMetricsEndpoints: [{ ...endpoint, interval: '15s', relabelings: [{ targetLabel: 'job', replacement: `aidiary-${tier}`, action: 'replace' }] }],
    },
  });
  const podMonitorApps = podMonitor('app', 'app', { port: 'http', path: '/metrics' });
  // CloudNativePG names the exporter's container port `metrics` (9187).
  const podMonitorPostgres = podMonitor('postgres', 'postgres', { port: 'metrics' }, { 'cnpg.io/podRole': 'instance' });
  const podMonitorEdge = podMonitor('edge', 'nginx', { port: 'metrics', path: '/metrics' });
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: meta(`${t.name}-alerts`, 'monitoring'),
    spec: { groups: alertRules(productionProfile) },
  };
  const queries = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(postgresQueriesConfigMapName(t), 'postgres'),
    data: { [postgresQueriesKey]: postgresQueriesYaml() },
  };
  return { podMonitorApps, podMonitorPostgres, podMonitorEdge, rule, queries, postgresMetricsPort };
}

export interface MonitoringArgs { topology: Topology; namespace: pulumi.Input<string>; namespaceName: string }

export class Monitoring extends pulumi.ComponentResource {
  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:kubernetes:Monitoring', name, {}, opts);
    const m = monitoringManifests(args.topology, args.namespaceName);
    const withNs = <T extends { metadata: object }>(o: T) => ({ ...o, metadata: { ...o.metadata, namespace: args.namespace } });
    new k8s.apiextensions.CustomResource(`${name}-app-podmonitor`, withNs(m.podMonitorApps), { parent: this });
    new k8s.apiextensions.CustomResource(`${name}-postgres-podmonitor`, withNs(m.podMonitorPostgres), { parent: this });
    new k8s.apiextensions.CustomResource(`${name}-edge-podmonitor`, withNs(m.podMonitorEdge), { parent: this });
    new k8s.apiextensions.CustomResource(`${name}-rules`, withNs(m.rule), { parent: this });
    this.registerOutputs({});
  }
}

/** The custom-queries ConfigMap: created before the Cluster that names it. */
export function postgresQueriesConfigMap(name: string, t: Topology, namespace: pulumi.Input<string>, namespaceName: string, opts?: pulumi.CustomResourceOptions) {
  const q = monitoringManifests(t, namespaceName).queries;
  return new k8s.core.v1.ConfigMap(name, { metadata: { ...q.metadata, namespace }, data: q.data }, opts);
}
