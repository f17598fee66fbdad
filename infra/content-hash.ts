import { createHash } from 'node:crypto';

/**
 * Short, stable hash used in resource names that must change with their content (migration Job,
 * nginx ConfigMap), so a new release gets a new object and the old one goes only after it.
 */
export function contentHash(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex').slice(0, 10);
}
