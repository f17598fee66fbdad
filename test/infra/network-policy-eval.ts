import { BlockList, isIP } from 'node:net';
import { matches, type LabelSelector } from './selector-lint';

// Decides whether NetworkPolicies let one endpoint open a connection to another, by the rules of
// the Kubernetes API (networking.k8s.io/v1): a pod selected by any policy with Ingress (Egress) in
// policyTypes is isolated in that direction and admits only what some selecting policy's rules
// allow; policies add up; a connection needs the source's egress and the destination's ingress.
// Nothing here can run a CNI, so the documented semantics are written out (a few lines per rule).
// Named ports and endPort are refused: the stack's policies use numbers only.

export interface Endpoint {
  /** For messages. */
  name: string;
  ip: string;
  /** Pods only: their namespace (with its labels) and their labels. */
  pod?: { namespace: string; namespaceLabels: Record<string, string>; labels: Record<string, string> };
}

interface Peer { podSelector?: LabelSelector; namespaceSelector?: LabelSelector; ipBlock?: { cidr: string; except?: string[] } }
interface PortSpec { protocol?: string; port?: number | string; endPort?: number }
interface Rule { from?: Peer[]; to?: Peer[]; ports?: PortSpec[] }
export interface Policy {
  metadata: { name: string; namespace: string };
  spec: { podSelector: LabelSelector; policyTypes?: string[]; ingress?: Rule[]; egress?: Rule[] };
}

function inCidr(ip: string, cidr: string): boolean {
  const [addr, bits] = cidr.split('/');
  const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
  if ((isIP(ip) === 6 ? 'ipv6' : 'ipv4') !== family) return false;
  const list = new BlockList();
  list.addSubnet(addr, Number(bits), family);
  return list.check(ip, family);
}

function peerMatches(peer: Peer, policyNamespace: string, other: Endpoint): boolean {
  if (peer.ipBlock) {
    return inCidr(other.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip, c));
  }
  if (!other.pod) return false; // selectors only ever match pods
  if (peer.namespaceSelector) {
    if (!matches(peer.namespaceSelector, other.pod.namespaceLabels)) return false;
  } else if (other.pod.namespace !== policyNamespace) {
    return false; // a podSelector alone means pods of the policy's own namespace
  }
  return peer.podSelector ? matches(peer.podSelector, other.pod.labels) : true;
}

function portMatches(ports: PortSpec[] | undefined, port: number, protocol: string): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if (typeof p.port === 'string' || p.endPort !== undefined) throw new Error('named ports and endPort are not evaluated here; use numbers');
    return (p.protocol ?? 'TCP') === protocol && (p.port === undefined || p.port === port);
  });
}

/** Does `pod`'s side allow the connection in `direction` with `other` on port/protocol? */
function sideAllows(policies: Policy[], pod: Endpoint, direction: 'Ingress' | 'Egress', other: Endpoint, port: number, protocol: string): boolean {
  if (!pod.pod) return true; // not a pod of a policed namespace: nothing restricts this side
  const selecting = policies.filter((p) => p.metadata.namespace === pod.pod!.namespace
    && matches(p.spec.podSelector, pod.pod!.labels)
    && (p.spec.policyTypes ?? ['Ingress', ...(p.spec.egress ? ['Egress'] : [])]).includes(direction));
  if (selecting.length === 0) return true; // not isolated in this direction
  return selecting.some((p) => ((direction === 'Ingress' ? p.spec.ingress : p.spec.egress) ?? []).some((rule) => {
    const peers = direction === 'Ingress' ? rule.from : rule.to;
    const peerOk = !peers || peers.length === 0 || peers.some((peer) => peerMatches(peer, p.metadata.namespace, other));
    return peerOk && portMatches(rule.ports, port, protocol);
  }));
}

/** True when the policies let `from` connect to `to` on port/protocol. */
export function connectionAllowed(policies: Policy[], from: Endpoint, to: Endpoint, port: number, protocol: 'TCP' | 'UDP'): boolean {
  return sideAllows(policies, from, 'Egress', to, port, protocol) && sideAllows(policies, to, 'Ingress', from, port, protocol);
}

export { inCidr };
