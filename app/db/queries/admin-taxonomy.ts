import type { Queryable } from '../db';

// Categories and tags: listing with post counts, create/rename/delete, and resolving the
// references a post body carries (slugs or ids) to ids.

export type TaxonomyTable = 'categories' | 'tags';

export interface Term {
  id: number;
  name: string;
  slug: string;
  description?: string;
  parentId?: number | null;
  postCount: number;
}

const link = { categories: { table: 'post_categories', column: 'category_id' }, tags: { table: 'post_tags', column: 'tag_id' } } as const;

function toTerm(table: TaxonomyTable, r: Record<string, unknown>): Term {
  const base: Term = { id: Number(r.id), name: String(r.name), slug: String(r.slug), postCount: Number(r.post_count) };
  if (table === 'categories') {
    base.description = String(r.description);
    base.parentId = r.parent_id === null ? null : Number(r.parent_id);
  }
  return base;
}

function columns(table: TaxonomyTable): string {
  const l = link[table];
  const extra = table === 'categories' ? ', x.description, x.parent_id' : '';
  return `x.id, x.name, x.slug${extra}, (SELECT count(*) FROM ${l.table} j WHERE j.${l.column} = x.id) AS post_count`;
}

export async function listTerms(q: Queryable, table: TaxonomyTable, limit: number, offset: number): Promise<{ items: Term[]; total: number }> {
  const [list, count] = await Promise.all([
    q.query({ name: `admin_${table}_list`, text: `SELECT ${columns(table)} FROM ${table} x ORDER BY x.name, x.id LIMIT $1 OFFSET $2`, values: [limit, offset] }),
    q.query<{ n: string }>({ name: `admin_${table}_count`, text: `SELECT count(*) AS n FROM ${table}` }),
  ]);
  return { items: list.rows.map((r) => toTerm(table, r)), total: Number(count.rows[0].n) };
}

export async function getTerm(q: Queryable, table: TaxonomyTable, id: number): Promise<Term | null> {
  const { rows } = await q.query({ name: `admin_${table}_get`, text: `SELECT ${columns(table)} FROM ${table} x WHERE x.id = $1`, values: [id] });
  return rows[0] ? toTerm(table, rows[0]) : null;
}

export interface TermWrite { name: string; slug: string; description?: string; parentId?: number | null }

export async function insertTerm(q: Queryable, table: TaxonomyTable, t: TermWrite): Promise<number> {
  const { rows } = table === 'categories'
    ? await q.query<{ id: string }>({
      name: 'admin_categories_insert',
      text: 'INSERT INTO categories (name, slug, description, parent_id) VALUES ($1, $2, $3, $4) RETURNING id',
      values: [t.name, t.slug, t.description ?? '', t.parentId ?? null],
    })
    : await q.query<{ id: string }>({ name: 'admin_tags_insert', text: 'INSERT INTO tags (name, slug) VALUES ($1, $2) RETURNING id', values: [t.name, t.slug] });
  return Number(rows[0].id);
}

export async function updateTerm(q: Queryable, table: TaxonomyTable, id: number, t: TermWrite): Promise<boolean> {
  const res = table === 'categories'
    ? await q.query({
      name: 'admin_categories_update',
      text: 'UPDATE categories SET name = $2, slug = $3, description = $4, parent_id = $5 WHERE id = $1',
      values: [id, t.name, t.slug, t.description ?? '', t.parentId ?? null],
    })
    : await q.query({ name: 'admin_tags_update', text: 'UPDATE tags SET name = $2, slug = $3 WHERE id = $1', values: [id, t.name, t.slug] });
  return (res.rowCount ?? 0) > 0;
}

export async function deleteTerm(q: Queryable, table: TaxonomyTable, id: number): Promise<boolean> {
  const res = await q.query({ name: `admin_${table}_delete`, text: `DELETE FROM ${table} WHERE id = $1`, values: [id] });
  return (res.rowCount ?? 0) > 0;
}

/** Would making `parentId` the parent of `id` create a cycle? */
export async function wouldCycle(q: Queryable, id: number, parentId: number): Promise<boolean> {
  const { rows } = await q.query<{ hit: boolean }>({
    name: 'admin_categories_cycle',
    text: `WITH RECURSIVE up(id, depth) AS (SELECT $2::bigint, 0 UNION ALL
             SELECT c.parent_id, up.depth + 1 FROM categories c JOIN up ON c.id = up.id WHERE c.parent_id IS NOT NULL AND up.depth < 100)
           SELECT EXISTS (SELECT 1 FROM up WHERE id = $1) AS hit`,
    values: [id, parentId],
  });
  return rows[0].hit;
}

/** Slugs (strings) or ids (numbers) → ids; the references that matched nothing come back in `unknown`. */
export async function resolveTerms(q: Queryable, table: TaxonomyTable, refs: (string | number)[]): Promise<{ ids: number[]; unknown: (string | number)[] }> {
  if (refs.length === 0) return { ids: [], unknown: [] };
  const ids = refs.filter((r): r is number => typeof r === 'number');
  const slugs = refs.filter((r): r is string => typeof r === 'string');
  const { rows } = await q.query<{ id: string; slug: string }>({
    name: `admin_${table}_resolve`,
    text: `SELECT id, slug FROM ${table} WHERE id = ANY($1::bigint[]) OR slug = ANY($2::text[])`,
    values: [ids, slugs],
  });
  const byId = new Set(rows.map((r) => Number(r.id)));
  const bySlug = new Map(rows.map((r) => [r.slug, Number(r.id)]));
  const unknown = refs.filter((r) => (typeof r === 'number' ? !byId.has(r) : !bySlug.has(r)));
  const resolved = refs.flatMap((r) => (typeof r === 'number' ? (byId.has(r) ? [r] : []) : bySlug.has(r) ? [bySlug.get(r)!] : []));
  return { ids: [...new Set(resolved)], unknown };
}
