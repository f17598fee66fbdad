// Selector lint for a rendered Kubernetes stack. A schema cannot see that a Service, a
// PodDisruptionBudget or a NetworkPolicy selects the wrong pods (or none): this checks every
// selector against the pods the stack's workloads create. Label-selector matching is a few
// lines of documented semantics (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist),
// so it is written out here rather than pulling in a Kubernetes client for it.

type Labels = Record<string, string>;
export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}
interface KubeObject { apiVersion: string; kind: string; metadata: { name: string; labels?: Labels }; spec?: any }

/** Pods a workload creates: `<Kind>/<name>` and the labels of its pods. */
export interface PodGroup { owner: string; labels: Labels }

const id = (o: KubeObject) => `${o.kind}/${o.metadata.name}`;

export function matches(selector: LabelSelector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const ok = e.operator === 'In' ? has && (e.values ?? []).includes(labels[e.key])
      : e.operator === 'NotIn' ? !has || !(e.values ?? []).includes(labels[e.key])
        : e.operator === 'Exists' ? has
          : e.operator === 'DoesNotExist' ? !has
            : false;
    if (!ok) return false;
  }
  return true;
}

const isEmpty = (s: LabelSelector) => !Object.keys(s.matchLabels ?? {}).length && !(s.matchExpressions ?? []).length;

/**
 * Pods of Deployments, StatefulSets, DaemonSets and Jobs (their pod template labels) and of
 * CloudNativePG Clusters (the Cluster's inheritedMetadata labels plus the `cnpg.io/cluster` and
 * `cnpg.io/podRole` labels the operator puts on every instance pod).
 */
export function podGroups(objects: KubeObject[]): PodGroup[] {
  return objects.flatMap((o): PodGroup[] => {
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind)) return [{ owner: id(o), labels: o.spec?.template?.metadata?.labels ?? {} }];
    if (o.kind === 'Cluster' && o.apiVersion === 'postgresql.cnpg.io/v1') {
      return [{ owner: id(o), labels: { ...o.spec?.inheritedMetadata?.labels, 'cnpg.io/cluster': o.metadata.name, 'cnpg.io/podRole': 'instance' } }];
    }
    return [];
  });
}

interface SelectorUse { where: string; selector: LabelSelector; rule: 'one' | 'own' | 'some' }

/** Every selector of the stack, with what it must select. */
function selectorUses(objects: KubeObject[]): SelectorUse[] {
  const uses: SelectorUse[] = [];
  for (const o of objects) {
    const spec = o.spec ?? {};
    if (o.kind === 'Service' && spec.selector) uses.push({ where: `${id(o)} .spec.selector`, selector: { matchLabels: spec.selector }, rule: 'one' });
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'PodDisruptionBudget'].includes(o.kind) && spec.selector) {
      uses.push({ where: `${id(o)} .spec.selector`, selector: spec.selector, rule: o.kind === 'PodDisruptionBudget' ? 'one' : 'own' });
    }
    const pod = spec.template?.spec;
    if (pod) {
      (pod.topologySpreadConstraints ?? []).forEach((c: { labelSelector?: LabelSelector }, i: number) => {
        if (c.labelSelector) uses.push({ where: `${id(o)} topologySpreadConstraints[${i}]`, selector: c.labelSelector, rule: 'own' });
      });
      for (const kind of ['podAffinity', 'podAntiAffinity'] as const) {
        const terms = [
          ...(pod.affinity?.[kind]?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
          ...(pod.affinity?.[kind]?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((w: { podAffinityTerm: unknown }) => w.podAffinityTerm),
        ];
        terms.forEach((t: { labelSelector?: LabelSelector; namespaceSelector?: unknown }, i: number) => {
          if (t.labelSelector && !t.namespaceSelector) uses.push({ where: `${id(o)} ${kind}[${i}]`, selector: t.labelSelector, rule: 'one' });
        });
      }
    }
    if (o.kind === 'NetworkPolicy') {
      // An empty podSelector is "every pod in the namespace" (a default policy): nothing to match.
      if (spec.podSelector && !isEmpty(spec.podSelector)) uses.push({ where: `${id(o)} .spec.podSelector`, selector: spec.podSelector, rule: 'one' });
      const peers = [
        ...(spec.ingress ?? []).flatMap((r: { from?: unknown[] }, i: number) => (r.from ?? []).map((p) => [`ingress[${i}].from`, p] as const)),
        ...(spec.egress ?? []).flatMap((r: { to?: unknown[] }, i: number) => (r.to ?? []).map((p) => [`egress[${i}].to`, p] as const)),
      ];
      // A peer may allow several workloads, but one that selects no pod of the stack is a typo;
      // peers in other namespaces (namespaceSelector) cannot be checked here.
      for (const [where, peer] of peers as [string, { podSelector?: LabelSelector; namespaceSelector?: unknown }][]) {
        if (peer.podSelector && !peer.namespaceSelector && !isEmpty(peer.podSelector)) uses.push({ where: `${id(o)} ${where}`, selector: peer.podSelector, rule: 'some' });
      }
    }
  }
  return uses;
}

/**
 * Problems with the stack's selectors: a Service, PodDisruptionBudget, NetworkPolicy podSelector
 * or pod (anti-)affinity term must select the pods of exactly one workload; a workload's own
 * selector and spread constraints must select its own pods and no other workload's; a
 * NetworkPolicy peer must select at least one workload. Empty when all hold.
 */
export function selectorProblems(objects: KubeObject[]): string[] {
  const groups = podGroups(objects);
  const problems: string[] = [];
  for (const use of selectorUses(objects)) {
    const owner = use.where.slice(0, use.where.indexOf(' '));
    if (isEmpty(use.selector)) {
      problems.push(`${use.where}: empty selector selects every pod`);
      continue;
    }
    const selected = groups.filter((g) => matches(use.selector, g.labels)).map((g) => g.owner).sort();
    const list = selected.join(', ') || 'no workload';
    if (use.rule === 'some' && selected.length === 0) problems.push(`${use.where}: selects no workload`);
    if (use.rule === 'one' && selected.length !== 1) problems.push(`${use.where}: must select one workload, selects ${list}`);
    if (use.rule === 'own' && (selected.length !== 1 || selected[0] !== owner)) problems.push(`${use.where}: must select ${owner}'s own pods only, selects ${list}`);
  }
  return problems;
}
