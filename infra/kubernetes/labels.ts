import type { Topology } from '../topology';

/**
 * Labels of one tier. The same map is the workload's selector, its pod template labels and the
 * selector of its Services and PodDisruptionBudget, so they cannot drift apart.
 */
export function tierLabels(t: Topology, component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'aidiary',
    'app.kubernetes.io/instance': t.name,
    'app.kubernetes.io/component': component,
  };
}
