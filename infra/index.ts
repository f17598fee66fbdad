// Pulumi entry: wiring only. `target` in the stack's config picks Docker (staging) or Kubernetes
// (prod); both build the same tiers from the same topology.
import { fileURLToPath } from 'node:url';
import { readStackSettings } from './stack-config';
import { deployDockerStack } from './docker/stack';
import { deployKubernetesStack } from './kubernetes/stack';

const repoRoot = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const settings = readStackSettings(repoRoot);
const stack = settings.target === 'docker' ? deployDockerStack(settings) : deployKubernetesStack(settings);

// Stack outputs (`pulumi stack output --json`): drills and operators read these.
export const target = stack.target;
export const url = stack.url;
export const appReplicas = stack.appReplicas;
export const dbReplicas = stack.dbReplicas;
export const durability = stack.durability;
export const details = stack.details;
/**
 * The `admin` account's password as the first deploy created it (a secret: `pulumi stack output
 * initialAdminPassword --show-secrets`). Valid until the password is changed in the admin UI or
 * with `aidiary admin reset-password`; deploys never reset it.
 */
export const initialAdminPassword = stack.initialAdminPassword;
