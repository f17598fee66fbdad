import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RedisAuth } from '../config';
import { redisAuthOptions } from '../redis-connection';
import { closeBounded, metricOnce, withTimeout as withTimeoutMs } from './queue-support';
import type { CdnPurger } from '../cdn/purger';
import type { JobQueueSummary } from './jobs';

// CDN purges through BullMQ on the sessions Redis, like the other jobs (app/jobs/jobs.ts).
//
// Ordering: onContentChanged enqueues after the app's own caches were invalidated, and a tag is due
// `purgeDelayMs` (≥ 1.1 s) after that, by Redis's clock: nginx keeps a page at most to the end of
// its second, so a CDN refill after the purge can no longer get the old copy from it.
// Dedup and batching: pending tags live in one sorted set scored by their due time (ZADD GT: a
// later write of the same tag pushes it later, never earlier), so the N apps and many writes of a
// second purge each tag once. A `flush` job (one per 100 ms of due times, plus a sweep every
// sweepEveryMs for anything left behind) atomically claims the due tags and adds one `send` job
// with them; a send calls the adapter, retried with exponential backoff; one that fails every
// attempt stays in the queue's failed set (the dead letters, counted in metrics). BullMQ hands each
// job to one worker of the cluster. A provider error never reaches the write: it shows in
// aidiary_cdn_purge_requests_total{outcome="failed"} and a log line.

export const cdnPurgeQueueName = 'cdn-purge';

export interface CdnPurgeTuning {
  purgeDelayMs: number;
  sendAttempts: number;
  sendBackoffMs: number;
  sweepEveryMs: number;
  /** Most tags in one send job (the adapter splits further to its provider's limit). */
  maxTagsPerSend: number;
  prefix: string;
}

export const defaultCdnPurgeTuning: CdnPurgeTuning = {
  purgeDelayMs: 1100,
  sendAttempts: 8,
  sendBackoffMs: 2000,
  sweepEveryMs: 5000,
  maxTagsPerSend: 2000,
  prefix: 'jobs',
};

export interface CdnPurgeQueueDeps {
  redisUrl: string;
  redisAuth?: RedisAuth | null;
  appName: string;
  logger: FastifyBaseLogger;
  metrics: Registry;
  purger: CdnPurger;
}

export interface CdnPurgeQueue {
  /** Records the tags for a purge purgeDelayMs from now; false when Redis is unavailable (counted, logged). */
  enqueue(tags: string[]): Promise<boolean>;
  start(): void;
  ready(timeoutMs?: number): Promise<void>;
  summary(): Promise<JobQueueSummary>;
  close(): Promise<void>;
}

const flushBucketMs = 100;
const producerTimeoutMs = 1500;
const withTimeout = <T>(what: string, p: Promise<T>, ms = producerTimeoutMs) => withTimeoutMs(what, p, ms);

// Redis's clock for every due time: the apps' clocks may disagree; the queue's Redis is one.
const nowMsLua = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";
const addPendingLua = `${nowMsLua}
local due = now + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'GT', due, ARGV[i]) end
return due`;
const claimDueLua = `${nowMsLua}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local nextIn = -1
if #first > 0 then nextIn = math.max(0, tonumber(first[2]) - now) end
return {due, nextIn}`;

type ScriptedRedis = Redis & {
  cdnAddPending(key: string, delayMs: number, ...tags: string[]): Promise<number>;
  cdnClaimDue(key: string, max: number): Promise<[string[], number]>;
};

function withScripts(redis: Redis): ScriptedRedis {
  redis.defineCommand('cdnAddPending', { numberOfKeys: 1, lua: addPendingLua });
  redis.defineCommand('cdnClaimDue', { numberOfKeys: 1, lua: claimDueLua });
  return redis as ScriptedRedis;
}

const keep = { removeOnComplete: { count: 200 } };

export function createCdnPurgeQueue(deps: CdnPurgeQueueDeps, tuning: Partial<CdnPurgeTuning> = {}): CdnPurgeQueue {
  const t = { ...defaultCdnPurgeTuning, ...tuning };
  const provider = deps.purger.provider;
  const log = deps.logger.child({ component: 'cdn-purge', provider });
  const pendingKey = `${t.prefix}:${cdnPurgeQueueName}:pending`;

  const requests = metricOnce(deps.metrics, 'aidiary_cdn_purge_requests_total', () => new Counter({
    name: 'aidiary_cdn_purge_requests_total', help: 'Purge requests sent to the CDN by this app, by provider and outcome (sent, failed)', labelNames: ['provider', 'outcome'], registers: [deps.metrics],
  }));
  const items = metricOnce(deps.metrics, 'aidiary_cdn_purge_items_total', () => new Counter({
    name: 'aidiary_cdn_purge_items_total', help: 'Tags, URLs or paths purged at the CDN by this app', labelNames: ['provider'], registers: [deps.metrics],
  }));
  const batches = metricOnce(deps.metrics, 'aidiary_cdn_purge_batches_total', () => new Counter({
    name: 'aidiary_cdn_purge_batches_total', help: 'Purge batches (send jobs) this app ran, by outcome (completed, failed = retried later, dead_letter = out of attempts)', labelNames: ['provider', 'outcome'], registers: [deps.metrics],
  }));
  const enqueueFailures = metricOnce(deps.metrics, 'aidiary_cdn_purge_enqueue_failures_total', () => new Counter({
    name: 'aidiary_cdn_purge_enqueue_failures_total', help: 'Purges not recorded because the job queue Redis was unavailable', registers: [deps.metrics],
  }));

  let lastLogMs = 0;
  const redisFailed = (op: string, err: unknown) => {
    const now = Date.now();
    if (now - lastLogMs < 5000) return;
    lastLogMs = now;
    log.warn({ err: { message: (err as Error)?.message }, op }, 'cdn purge queue redis unavailable; purges wait for it');
  };

  const producer = withScripts(new Redis(deps.redisUrl, {
    ...redisAuthOptions(deps.redisAuth),
    connectionName: `${deps.appName}-cdn-purge`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  }));
  producer.on('error', (err) => redisFailed('producer', err));
  const queue = new Queue(cdnPurgeQueueName, { connection: producer, prefix: t.prefix });
  queue.on('error', (err) => redisFailed('queue', err));

  // Dead letters across the cluster: the failed set of the queue (read on scrape, bounded).
  metricOnce(deps.metrics, 'aidiary_cdn_purge_dead_letters', () => new Gauge({
    name: 'aidiary_cdn_purge_dead_letters', help: 'Purge batches that failed every attempt and are kept in the queue\'s failed set (cluster-wide)', registers: [deps.metrics],
    async collect() {
      try {
        this.set(await withTimeout('dead letters', queue.getFailedCount(), 500));
      } catch { /* Redis down: keep the last value */ }
    },
  }));

  const addFlush = (jobId: string, delay: number, on: Queue = queue) =>
    on.add('flush', {}, { jobId, delay: Math.max(0, delay), ...keep, removeOnFail: { count: 100 } });

  const processor = async (job: Job) => {
    if (job.name === 'flush') {
      // On the worker's connection, which waits through a Redis reconnect instead of failing:
      // claimed tags must reach their send job (only a crash between the two loses them, and then
      // the CDN keeps those pages until their TTL).
      const q = workerQueue!;
      let claimed = 0;
      for (;;) {
        const [due, nextIn] = await workerConnection!.cdnClaimDue(pendingKey, t.maxTagsPerSend);
        if (due.length) {
          claimed += due.length;
          await q.add('send', { tags: due, claimedAt: Date.now() }, {
            attempts: t.sendAttempts, backoff: { type: 'exponential', delay: t.sendBackoffMs },
            ...keep, removeOnFail: { count: 1000 },
          });
        }
        if (due.length < t.maxTagsPerSend) {
          // Tags due later (a write after this flush was planned): one more flush at their time.
          if (nextIn >= 0) await addFlush(`reflush-${Math.ceil((Date.now() + nextIn) / flushBucketMs)}`, nextIn + 10, q);
          return { claimed };
        }
      }
    }
    const { tags } = job.data as { tags: string[] };
    try {
      const outcome = await deps.purger.purge(tags);
      requests.inc({ provider, outcome: 'sent' }, outcome.requests);
      items.inc({ provider }, outcome.items);
      log.info({ tags: tags.length, requests: outcome.requests, items: outcome.items, attempt: job.attemptsMade + 1 }, 'cdn purge sent');
      return outcome;
    } catch (err) {
      requests.inc({ provider, outcome: 'failed' });
      throw err;
    }
  };

  let worker: Worker | null = null;
  let workerConnection: ScriptedRedis | null = null;
  let workerQueue: Queue | null = null;
  let started = false;
  let closed = false;
  let schedulerTimer: NodeJS.Timeout | null = null;

  const upsertSweep = async () => {
    schedulerTimer = null;
    if (closed) return;
    try {
      await queue.upsertJobScheduler('cdn-purge-sweep', { every: t.sweepEveryMs }, { name: 'flush', opts: keep });
    } catch (err) {
      redisFailed('scheduler', err);
      schedulerTimer = setTimeout(() => void upsertSweep(), 2000);
      schedulerTimer.unref();
    }
  };

  return {
    async enqueue(tags) {
      const unique = [...new Set(tags)];
      if (closed || unique.length === 0) return false;
      try {
        await withTimeout('enqueue:cdn-purge', (async () => {
          const due = await producer.cdnAddPending(pendingKey, t.purgeDelayMs, ...unique);
          // Flushes coalesce per 100 ms of due time; it runs at the end of its bucket (≥ due).
          const bucket = Math.ceil(Number(due) / flushBucketMs);
          await addFlush(`flush-${bucket}`, bucket * flushBucketMs - Number(due) + t.purgeDelayMs);
        })());
        return true;
      } catch (err) {
        enqueueFailures.inc();
        redisFailed('enqueue', err);
        log.error({ err: { message: (err as Error).message }, tags: unique.length }, 'cdn purge not recorded: the CDN keeps these pages until their TTL');
        return false;
      }
    },

    start() {
      if (started || closed) return;
      started = true;
      workerConnection = withScripts(new Redis(deps.redisUrl, {
        ...redisAuthOptions(deps.redisAuth),
        connectionName: `${deps.appName}-cdn-purge-worker`,
        maxRetriesPerRequest: null,
        retryStrategy: (times) => Math.min(times * 200, 2000),
      }));
      workerConnection.on('error', (err) => redisFailed('worker-connection', err));
      workerQueue = new Queue(cdnPurgeQueueName, { connection: workerConnection, prefix: t.prefix });
      workerQueue.on('error', (err) => redisFailed('queue', err));
      worker = new Worker(cdnPurgeQueueName, processor, {
        connection: workerConnection, prefix: t.prefix, concurrency: 2, lockDuration: 60_000,
      });
      worker.on('error', (err) => redisFailed('worker', err));
      worker.on('completed', (job) => { if (job.name === 'send') batches.inc({ provider, outcome: 'completed' }); });
      worker.on('failed', (job, err) => {
        if (!job) return;
        const dead = job.name === 'send' && job.attemptsMade >= (job.opts.attempts ?? 1);
        if (job.name === 'send') batches.inc({ provider, outcome: dead ? 'dead_letter' : 'failed' });
        const fields = { err: { message: err.message, status: (err as { status?: number }).status }, jobId: job.id, job: job.name, attempt: job.attemptsMade, tags: (job.data as { tags?: string[] }).tags?.length };
        if (dead) log.error(fields, 'cdn purge gave up after every attempt; the batch is in the dead letters (failed set)');
        else log.warn(fields, 'cdn purge failed; retrying with backoff');
      });
      producer.on('ready', () => { if (!closed && !schedulerTimer) void upsertSweep(); });
      void upsertSweep();
    },

    async ready(timeoutMs = 5000) {
      if (!worker) return;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
      await Promise.race([worker.waitUntilReady().then(() => {}), timeout]).catch(() => {});
      clearTimeout(timer);
    },

    async summary() {
      const c = await withTimeout('summary:cdn-purge', queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed'));
      return { queue: cdnPurgeQueueName, waiting: c.waiting ?? 0, active: c.active ?? 0, delayed: c.delayed ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0 };
    },

    async close() {
      closed = true;
      if (schedulerTimer) clearTimeout(schedulerTimer);
      await Promise.all([...(worker ? [closeBounded(worker, 5000)] : []), ...(workerQueue ? [closeBounded(workerQueue, 2000)] : []), closeBounded(queue, 2000)]);
      for (const client of [workerConnection, producer]) {
        if (client) await withTimeout('quit', client.quit(), 1000).catch(() => client.disconnect());
      }
    },
  };
}
