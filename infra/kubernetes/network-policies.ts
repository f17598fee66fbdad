import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import type { Topology } from '../topology';
import { namespaceParties, networkFlows, partySelectors, type Flow, type NetworkSettings, type Party, type PartySelector } from './network-flows';

// The flow matrix (network-flows.ts) as NetworkPolicies: one default deny (ingress and egress)
// for every pod of the namespace, then one policy per workload that allows exactly the flows it
// takes part in. Policies only add allowances, so a pod's traffic is the union of the two.

export interface NetworkPolicySpec {
  podSelector: { matchLabels?: Record<string, string> };
  policyTypes: ('Ingress' | 'Egress')[];
  ingress?: { from?: Record<string, unknown>[]; ports: { protocol: string; port: number }[] }[];
  egress?: { to?: Record<string, unknown>[]; ports: { protocol: string; port: number }[] }[];
}

export interface NetworkPolicyManifest {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: NetworkPolicySpec;
}

/** A NetworkPolicy peer for a party; undefined = any address (a rule without from/to). */
function peer(s: PartySelector): Record<string, unknown> | undefined {
  switch (s.kind) {
    case 'anywhere': return undefined;
    case 'pods': return { podSelector: { matchLabels: s.podLabels } };
    case 'namespace-pods': return { namespaceSelector: { matchLabels: s.namespaceLabels }, ...(s.podLabels ? { podSelector: { matchLabels: s.podLabels } } : {}) };
    case 'cidr': return { ipBlock: { cidr: s.cidr } };
  }
}

/** One rule per peer, with every port of the flows to or from it (in matrix order). */
function rules(flows: Flow[], other: (f: Flow) => Party, selectors: Record<Party, PartySelector>) {
  const byPeer = new Map<Party, Flow[]>();
  for (const f of flows) byPeer.set(other(f), [...(byPeer.get(other(f)) ?? []), f]);
  return [...byPeer].map(([party, list]) => ({ peer: peer(selectors[party]), ports: list.map((f) => ({ protocol: f.protocol, port: f.port })) }));
}

/** The policies of the prod namespace, as plain manifests (pure: the unit test renders these). */
export function networkPolicyManifests(t: Topology, n: NetworkSettings, namespace: string): NetworkPolicyManifest[] {
  const flows = networkFlows(t, n);
  const selectors = partySelectors(t, n);
  const labels = { 'app.kubernetes.io/name': 'aidiary', 'app.kubernetes.io/instance': t.name, 'app.kubernetes.io/component': 'network-policy' };
  const manifest = (name: string, spec: NetworkPolicySpec): NetworkPolicyManifest => ({
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace, labels }, spec,
  });
  const perParty = namespaceParties.map((party) => {
    const selector = selectors[party];
    if (selector.kind !== 'pods') throw new Error(`${party}: a namespace workload must be selected by pod labels`);
    return manifest(`${t.name}-${party}`, {
      podSelector: { matchLabels: selector.podLabels },
      policyTypes: ['Ingress', 'Egress'],
      ingress: rules(flows.filter((f) => f.to === party), (f) => f.from, selectors).map((r) => ({ ...(r.peer ? { from: [r.peer] } : {}), ports: r.ports })),
      egress: rules(flows.filter((f) => f.from === party), (f) => f.to, selectors).map((r) => ({ ...(r.peer ? { to: [r.peer] } : {}), ports: r.ports })),
    });
  });
  return [manifest(`${t.name}-default-deny`, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }), ...perParty];
}

export interface NetworkPoliciesArgs {
  topology: Topology;
  namespace: pulumi.Input<string>;
  /** The namespace as plain text (the manifests are pure). */
  namespaceName: string;
  network: NetworkSettings;
}

/**
 * The namespace's NetworkPolicies. Created before the workloads, so no pod of the stack ever runs
 * with an open network (a CNI without NetworkPolicy support ignores them: see README).
 */
export class NetworkPolicies extends pulumi.ComponentResource {
  readonly names: string[];

  constructor(name: string, args: NetworkPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:kubernetes:NetworkPolicies', name, {}, opts);
    const manifests = networkPolicyManifests(args.topology, args.network, args.namespaceName);
    for (const m of manifests) {
      new k8s.networking.v1.NetworkPolicy(`${name}-${m.metadata.name}`, {
        metadata: { ...m.metadata, namespace: args.namespace },
        spec: m.spec,
      }, { parent: this });
    }
    this.names = manifests.map((m) => m.metadata.name);
    this.registerOutputs({ names: this.names });
  }
}
