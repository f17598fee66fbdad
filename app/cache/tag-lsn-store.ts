import type { Redis } from 'ioredis';
import { compareLsn } from '../db/db';
import { pageKey, tagKeysKey } from './l2-cache';

// Per purge tag, in one Redis hash (`cache:tags`):
//   lsn:<tag>  the newest commit LSN of a write that invalidated the tag (kept as a max by Lua),
//   gen:<tag>  a generation bumped by every invalidation of the tag,
//   __gen      a cluster-wide generation (the L1 backstop polls this one field),
//   __floor    the primary's LSN when this hash was (re)created: the LSN a fill needs for a tag
//              that has no lsn:<tag> (never invalidated since Redis lost or started its data).
// One hash keeps them together: an LRU eviction or a restart loses all of them at once, and a
// missing __floor tells us so (we then render on the primary until the floor is set again).

export const tagsHashKey = 'cache:tags';
export const globalGenField = '__gen';
export const floorField = '__floor';
const lsnField = (tag: string) => `lsn:${tag}`;
const genField = (tag: string) => `gen:${tag}`;

// Lua: record max LSN per tag, bump generations, delete the tag's L2 pages, bump __gen.
// Returns the new generations, in the order of the tags.
const invalidateScript = `
local function lsnLess(a, b)
  local ah, al = string.match(a, '^(%x+)/(%x+)$')
  local bh, bl = string.match(b, '^(%x+)/(%x+)$')
  ah = tonumber(ah, 16); al = tonumber(al, 16); bh = tonumber(bh, 16); bl = tonumber(bl, 16)
  if ah ~= bh then return ah < bh end
  return al < bl
end
local hash = KEYS[1]
local lsn = ARGV[1]
local gens = {}
for i = 2, #ARGV do
  local tag = ARGV[i]
  if lsn ~= '' then
    local cur = redis.call('HGET', hash, 'lsn:' .. tag)
    if (not cur) or lsnLess(cur, lsn) then redis.call('HSET', hash, 'lsn:' .. tag, lsn) end
  end
  gens[#gens + 1] = redis.call('HINCRBY', hash, 'gen:' .. tag, 1)
  local setKey = '${tagKeysKey('')}' .. tag
  local keys = redis.call('SMEMBERS', setKey)
  for j = 1, #keys, 500 do
    redis.call('UNLINK', unpack(keys, j, math.min(j + 499, #keys)))
  end
  redis.call('DEL', setKey)
end
redis.call('HINCRBY', hash, '${globalGenField}', 1)
return gens
`;

// Lua: store a rendered page only if no tag's generation moved since the render started
// (invariant 4: a render overlapping an invalidation is served but not stored). With
// ARGV[3] = '0' (L2 off) it only answers the question.
const storeScript = `
local hash = KEYS[1]
local n = tonumber(ARGV[4])
for i = 0, n - 1 do
  local tag = ARGV[5 + 2 * i]
  local expected = tonumber(ARGV[6 + 2 * i])
  local cur = tonumber(redis.call('HGET', hash, 'gen:' .. tag) or '0')
  if cur ~= expected then return 0 end
end
if ARGV[3] == '1' then
  local px = tonumber(ARGV[2])
  redis.call('SET', KEYS[2], ARGV[1], 'PX', px)
  for i = 0, n - 1 do
    local setKey = '${tagKeysKey('')}' .. ARGV[5 + 2 * i]
    redis.call('SADD', setKey, KEYS[2])
    if redis.call('PTTL', setKey) < px then redis.call('PEXPIRE', setKey, px) end
  end
end
return 1
`;

export interface TagMeta {
  gens: Record<string, number>;
  /** Max over the tags of lsn:<tag> (or __floor for a tag without one); null if unknown. */
  minLsn: string | null;
  /** False when __floor is missing (Redis lost its data): render on the primary. */
  floorKnown: boolean;
  globalGen: number;
}

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

export class TagLsnStore {
  private readonly invalidateFn: ScriptFn;
  private readonly storeFn: ScriptFn;

  constructor(private readonly redis: Redis) {
    // defineCommand sends EVALSHA (the script body only once per connection).
    redis.defineCommand('aidiaryCacheInvalidate', { numberOfKeys: 1, lua: invalidateScript });
    redis.defineCommand('aidiaryCacheStore', { numberOfKeys: 2, lua: storeScript });
    const commands = redis as unknown as Record<string, ScriptFn>;
    this.invalidateFn = commands.aidiaryCacheInvalidate.bind(redis);
    this.storeFn = commands.aidiaryCacheStore.bind(redis);
  }

  /** HMGET arguments for tagMeta(): gens and LSNs of `tags`, then __floor and __gen. */
  metaFields(tags: string[]): string[] {
    return [...tags.flatMap((t) => [genField(t), lsnField(t)]), floorField, globalGenField];
  }

  parseMeta(tags: string[], values: (string | null)[]): TagMeta {
    const gens: Record<string, number> = {};
    const floor = values[tags.length * 2] ?? null;
    let minLsn: string | null = floor;
    tags.forEach((tag, i) => {
      gens[tag] = Number(values[2 * i] ?? 0);
      const lsn = values[2 * i + 1] ?? null;
      if (lsn && (minLsn === null || compareLsn(lsn, minLsn) > 0)) minLsn = lsn;
    });
    return { gens, minLsn, floorKnown: floor !== null, globalGen: Number(values[tags.length * 2 + 1] ?? 0) };
  }

  async meta(tags: string[]): Promise<TagMeta> {
    return this.parseMeta(tags, await this.redis.hmget(tagsHashKey, ...this.metaFields(tags)));
  }

  /** Records `lsn` for each tag, bumps their generations, deletes their L2 pages. */
  async invalidate(tags: string[], lsn: string): Promise<Record<string, number>> {
    const gens = (await this.invalidateFn(tagsHashKey, lsn, ...tags)) as number[];
    return Object.fromEntries(tags.map((t, i) => [t, Number(gens[i])]));
  }

  /** Conditional store (see storeScript); true when the generations still matched. */
  async storeIfCurrent(key: string, json: string, pxMs: number, gens: Record<string, number>, writeL2: boolean): Promise<boolean> {
    const pairs = Object.entries(gens).flatMap(([t, g]) => [t, String(g)]);
    const ok = await this.storeFn(tagsHashKey, pageKey(key), json, String(Math.max(1, Math.round(pxMs))), writeL2 ? '1' : '0', String(pairs.length / 2), ...pairs);
    return Number(ok) === 1;
  }

  async globalGen(): Promise<number> {
    return Number((await this.redis.hget(tagsHashKey, globalGenField)) ?? 0);
  }

  async gens(tags: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (let i = 0; i < tags.length; i += 1000) {
      const chunk = tags.slice(i, i + 1000);
      const values = await this.redis.hmget(tagsHashKey, ...chunk.map(genField));
      chunk.forEach((t, j) => out.set(t, Number(values[j] ?? 0)));
    }
    return out;
  }

  /** Sets __floor if it is missing; `currentLsn` is the primary's LSN now. */
  async ensureFloor(currentLsn: string): Promise<void> {
    await this.redis.hsetnx(tagsHashKey, floorField, currentLsn);
  }
}
