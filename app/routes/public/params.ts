import { z } from 'zod';
import { httpError } from '../../errors';
import { isPlausibleSlug } from '../../content/slug';

// Route parameter validation. Bad shapes answer 400 (malformed) or 404 (well-formed but nothing
// there); nothing a client sends reaches SQL except as a bound parameter of a validated type.

/** Deep pages are never useful and cost an OFFSET scan: anything past this is 404. */
export const maxPage = 10_000;

export function parsePage(raw: string | undefined): number {
  if (raw === undefined) return 1;
  if (!/^[0-9]{1,6}$/.test(raw)) throw httpError('bad_request', `Page number "${raw.slice(0, 20)}" is not a positive integer.`);
  const n = Number(raw);
  if (n < 1) throw httpError('bad_request', 'Page numbers start at 1.');
  if (n > maxPage) throw httpError('not_found', `There is no page ${n}.`);
  return n;
}

export function parseSlug(raw: string | undefined, what = 'slug'): string {
  if (raw === undefined || !isPlausibleSlug(raw)) throw httpError('not_found', `No such ${what}.`);
  return raw.normalize('NFC');
}

export function parseUsername(raw: string | undefined): string {
  // Same rule as the users.username CHECK constraint.
  if (raw === undefined || !/^[a-zA-Z0-9_.-]{2,40}$/.test(raw)) throw httpError('not_found', 'No such author.');
  return raw;
}

export interface DateRange { year: number; month?: number; day?: number; from: Date; to: Date }

/** `/:year/[:month/[:day/]]` → a UTC range; a malformed or impossible date is 404. */
export function parseDate(yearRaw: string, monthRaw?: string, dayRaw?: string): DateRange {
  const bad = () => httpError('not_found', 'There is no such date archive.');
  if (!/^\d{4}$/.test(yearRaw)) throw bad();
  const year = Number(yearRaw);
  if (year < 1970 || year > 9999) throw bad();
  if (monthRaw === undefined) return { year, from: new Date(Date.UTC(year, 0, 1)), to: new Date(Date.UTC(year + 1, 0, 1)) };
  if (!/^\d{1,2}$/.test(monthRaw)) throw bad();
  const month = Number(monthRaw);
  if (month < 1 || month > 12) throw bad();
  if (dayRaw === undefined) return { year, month, from: new Date(Date.UTC(year, month - 1, 1)), to: new Date(Date.UTC(year, month, 1)) };
  if (!/^\d{1,2}$/.test(dayRaw)) throw bad();
  const day = Number(dayRaw);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysInMonth) throw bad();
  return { year, month, day, from: new Date(Date.UTC(year, month - 1, day)), to: new Date(Date.UTC(year, month - 1, day + 1)) };
}

export const maxSearchLength = 100;

const searchQuerySchema = z.object({
  s: z.union([z.string(), z.array(z.string())]).optional(),
  paged: z.union([z.string(), z.array(z.string())]).optional(),
}).passthrough();

/** `?s=` trimmed (no second URL-decoding: `%252F` stays `%2F`); a repeated `s` takes the first. */
export function parseSearchTerm(query: unknown): string {
  const parsed = searchQuerySchema.safeParse(query ?? {});
  if (!parsed.success) throw httpError('bad_request', 'The query string is malformed.');
  const raw = parsed.data.s;
  const s = (Array.isArray(raw) ? raw[0] ?? '' : raw ?? '').normalize('NFC').replace(/\s+/g, ' ').trim();
  if (/[\u0000-\u001f\u007f]/.test(s)) throw httpError('bad_request', 'The search term contains control characters.');
  if (Array.from(s).length > maxSearchLength) throw httpError('bad_request', `Search terms are at most ${maxSearchLength} characters.`);
  return s;
}

/** `?paged=N` (LuaAIDiary's form): the page number, or null when absent. */
export function pagedParam(query: unknown): number | null {
  const q = (query ?? {}) as Record<string, unknown>;
  const raw = Array.isArray(q.paged) ? q.paged[0] : q.paged;
  if (raw === undefined) return null;
  if (typeof raw !== 'string') throw httpError('bad_request', 'paged must be a positive integer.');
  return parsePage(raw);
}
