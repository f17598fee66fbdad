import type { Queryable } from '../db';
import { isReservedSlug, maxSlugLength, slugify } from '../../content/slug';

// Slug checks for writes. slugify (app/content/slug.ts) makes readable Unicode slugs; here: is a
// client-chosen slug acceptable, and which suffix (-2, -3, …) is free, in one query.

export { slugify };

/** A slug a client typed: same alphabet as slugify (it must not change under slugify), not reserved. */
export function isValidSlug(slug: string): boolean {
  return slug.length > 0 && Array.from(slug).length <= maxSlugLength && !isReservedSlug(slug) && slugify(slug) === slug;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `base`, else `base-2`, `base-3`, … whichever is free in `table` (ignoring row `excludeId`). */
export async function uniqueSlug(q: Queryable, table: 'posts' | 'categories' | 'tags', base: string, excludeId: number | null): Promise<string> {
  const { rows } = await q.query<{ slug: string }>({
    name: `admin_slugs_taken_${table}`,
    text: `SELECT slug FROM ${table} WHERE (slug = $1 OR slug ~ $2) AND id IS DISTINCT FROM $3`,
    values: [base, `^${escapeRegex(base)}-[0-9]+$`, excludeId],
  });
  const taken = new Set(rows.map((r) => r.slug));
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}
