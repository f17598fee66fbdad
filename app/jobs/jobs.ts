import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import type { Db } from '../db/db';
import type { RedisAuth } from '../config';
import { redisAuthOptions } from '../redis-connection';
import { closeBounded, metricOnce, withTimeout as withTimeoutMs } from './queue-support';
import type { ContentChange, PageCache } from '../deps';
import { isClusterPageCache } from '../cache/page-cache';
import type { MediaLibrary } from '../media/media-library';
import { makeThumbnail } from '../media/thumbnail';
import { publishDuePosts } from './publish-scheduled-posts';
import { deleteExpiredIdempotencyKeys } from '../db/queries/admin-idempotency';
import type { CdnPurgeQueue } from './cdn-purge-queue';

// Background jobs on BullMQ, in the "sessions" Redis (AOF, noeviction: queued jobs must not be
// evicted). Every app runs the producers and, once start() is called (main.ts, after the app is
// ready to serve), one worker per queue: any app can run any job, and BullMQ hands each job to
// exactly one worker. Queues:
//   thumbnails       320 px WebP after an upload; 5 attempts, exponential backoff from 1 s (an image
//                    above the pixel cap fails at once: app/media/thumbnail.ts). Job id
//                    `thumb-<sha256>-<upload ms>`: BullMQ ignores an add while a job with that id is
//                    kept, so a sweep (every `thumbnailSweepEveryMs`, and when Redis comes back)
//                    enqueues exactly the uploads whose enqueue was lost (Redis down at upload time)
//   cache-warm       re-render the home page and the most-read pages after purges and at start;
//                    deduplicated: the N apps that enqueue at once produce one job
//   scheduled-posts  a job scheduler (one per cluster, whatever the number of apps upserting it)
//                    publishes due posts every `scheduleEveryMs`
//   maintenance      a job scheduler that deletes expired Idempotency-Key rows every
//                    `maintenanceEveryMs` (one run per cluster)
//   cdn-purge        when a CDN is configured: its purges after writes (app/jobs/cdn-purge-queue.ts)
// Redis down: producers fail fast (no offline queue: an upload never waits on Redis), workers
// reconnect by themselves; the app keeps serving; each failure is a counter and a rate-limited log
// line. Jobs resume when Redis returns.

export const queueNames = ['thumbnails', 'cache-warm', 'scheduled-posts', 'maintenance'] as const;
export type QueueName = (typeof queueNames)[number];

export interface JobQueueSummary { queue: string; waiting: number; active: number; delayed: number; completed: number; failed: number }

export interface Jobs {
  /** Enqueues the thumbnail of an upload (read at `lsn`); false when Redis is unavailable. */
  enqueueThumbnail(file: { sha256: string; createdAtMs: number }, lsn: string | null): Promise<boolean>;
  /** Enqueues a cache warm; concurrent calls across the cluster give one job. */
  enqueueWarm(): Promise<boolean>;
  /** Counts per queue (the admin dashboard); throws when Redis is unavailable. */
  summary(): Promise<JobQueueSummary[]>;
  /** Starts this app's workers and the scheduled-posts scheduler. */
  start(): void;
  /** Resolves once the workers are connected (bounded by timeoutMs). */
  ready(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface JobsDeps {
  redisUrl: string;
  /** The sessions role's credentials (the queues live there). */
  redisAuth?: RedisAuth | null;
  appName: string;
  logger: FastifyBaseLogger;
  metrics: Registry;
  db: Db;
  pageCache: PageCache;
  media: MediaLibrary;
  onContentChanged(change: ContentChange): Promise<void>;
  /** The CDN purge queue (app/jobs/cdn-purge-queue.ts) when a CDN is configured: started, listed and closed with the others. */
  cdnPurge?: CdnPurgeQueue | null;
}

export interface JobsTuning {
  /** How often due scheduled posts are looked up. */
  scheduleEveryMs: number;
  /** How often uploads without a thumbnail (older than the interval) are re-enqueued. */
  thumbnailSweepEveryMs: number;
  thumbnailAttempts: number;
  thumbnailBackoffMs: number;
  /** Debounce of warm jobs: a burst of purges (one write purges several tags) warms once. */
  warmDelayMs: number;
  /** How often expired Idempotency-Key rows are deleted. */
  maintenanceEveryMs: number;
  /** Redis key prefix of the queues. */
  prefix: string;
}

export const defaultJobsTuning: JobsTuning = {
  scheduleEveryMs: 2000,
  thumbnailSweepEveryMs: 60_000,
  thumbnailAttempts: 5,
  thumbnailBackoffMs: 1000,
  warmDelayMs: 200,
  maintenanceEveryMs: 3_600_000,
  prefix: 'jobs',
};

const keep = { removeOnComplete: { count: 500 }, removeOnFail: { count: 500 } };
const producerTimeoutMs = 1500;
const withTimeout = <T>(what: string, p: Promise<T>, ms = producerTimeoutMs) => withTimeoutMs(what, p, ms);

export function createJobs(deps: JobsDeps, tuning: Partial<JobsTuning> = {}): Jobs {
  const t = { ...defaultJobsTuning, ...tuning };
  const log = deps.logger.child({ component: 'jobs' });
  const redisErrors = metricOnce(deps.metrics, 'aidiary_jobs_redis_errors_total', () => new Counter({
    name: 'aidiary_jobs_redis_errors_total', help: 'Job queue Redis failures (enqueue, worker, scheduler)', labelNames: ['op'], registers: [deps.metrics],
  }));
  const finished = metricOnce(deps.metrics, 'aidiary_jobs_finished_total', () => new Counter({
    name: 'aidiary_jobs_finished_total', help: 'Jobs this app ran, by queue, job name and outcome', labelNames: ['queue', 'job', 'outcome'], registers: [deps.metrics],
  }));
  const published = metricOnce(deps.metrics, 'aidiary_scheduled_posts_published_total', () => new Counter({
    name: 'aidiary_scheduled_posts_published_total', help: 'Scheduled posts this app published', registers: [deps.metrics],
  }));

  let lastLogMs = 0;
  const redisFailed = (op: string, err: unknown) => {
    redisErrors.inc({ op });
    const now = Date.now();
    if (now - lastLogMs < 5000) return; // one line per 5 s during an outage; the counter has every one
    lastLogMs = now;
    log.warn({ err: { message: (err as Error)?.message, code: (err as { code?: string })?.code }, op }, 'job queue redis unavailable; jobs paused, the app keeps serving');
  };

  // Producers share one connection that fails fast while Redis is down (no offline queue).
  const producer = new Redis(deps.redisUrl, {
    ...redisAuthOptions(deps.redisAuth),
    connectionName: `${deps.appName}-jobs`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  producer.on('error', (err) => redisFailed('producer', err));
  const queues = Object.fromEntries(queueNames.map((name) => {
    // BullMQ initialises a queue once, after the client's first 'ready' (it waits, it does not
    // fail, when Redis is down at start): the calls below are bounded by withTimeout instead.
    const queue = new Queue(name, { connection: producer, prefix: t.prefix });
    queue.on('error', (err) => redisFailed(`queue:${name}`, err));
    return [name, queue];
  })) as Record<QueueName, Queue>;

  const processors: Record<QueueName, (job: Job) => Promise<unknown>> = {
    thumbnails: async (job) => {
      if (job.name === 'sweep') {
        const missing = await deps.media.missingThumbnails(50);
        for (const file of missing) await addThumbnail(file, null);
        return { enqueued: missing.length };
      }
      const { sha256, lsn } = job.data as { sha256: string; lsn: string | null };
      const original = await deps.media.original(sha256, lsn);
      if (!original) return { sha256, skipped: 'file deleted' };
      const stored = await deps.media.saveThumbnail(sha256, await makeThumbnail(original.data, deps.media.maxUploadPixels));
      return { sha256, stored };
    },
    'cache-warm': async () => {
      if (!isClusterPageCache(deps.pageCache)) return { warmed: null };
      return { warmed: await deps.pageCache.warm() };
    },
    'scheduled-posts': async () => {
      const { published: posts, unscheduled } = await publishDuePosts(deps.db, deps.onContentChanged);
      if (posts.length) {
        published.inc(posts.length);
        log.info({ posts: posts.map((p) => p.id) }, `published ${posts.length} scheduled post(s)`);
      }
      if (unscheduled.length) {
        log.warn({ posts: unscheduled }, `${unscheduled.length} scheduled post(s) not published (their author may no longer publish); they are drafts again`);
      }
      return { published: posts.map((p) => p.id), unscheduled };
    },
    maintenance: async () => {
      const { value: deleted } = await deps.db.write((q) => deleteExpiredIdempotencyKeys(q));
      if (deleted) log.info({ deleted }, 'deleted expired idempotency keys');
      return { deletedIdempotencyKeys: deleted };
    },
  };

  let workers: Worker[] = [];
  let started = false;
  let workerConnection: Redis | null = null;
  let schedulerTimer: NodeJS.Timeout | null = null;
  let closed = false;

  const addThumbnail = (file: { sha256: string; createdAtMs: number }, lsn: string | null) =>
    queues.thumbnails.add('thumbnail', { sha256: file.sha256, lsn }, {
      jobId: `thumb-${file.sha256}-${file.createdAtMs}`,
      attempts: t.thumbnailAttempts,
      backoff: { type: 'exponential', delay: t.thumbnailBackoffMs },
      ...keep,
    });

  const upsertScheduler = async () => {
    schedulerTimer = null;
    if (closed) return;
    try {
      // Idempotent: every app upserts the same scheduler ids; Redis holds one of each.
      await queues['scheduled-posts'].upsertJobScheduler('publish-due-posts', { every: t.scheduleEveryMs }, {
        name: 'publish-due-posts', opts: keep,
      });
      await queues.thumbnails.upsertJobScheduler('thumbnail-sweep', { every: t.thumbnailSweepEveryMs }, {
        name: 'sweep', opts: keep,
      });
      await queues.maintenance.upsertJobScheduler('expire-idempotency-keys', { every: t.maintenanceEveryMs }, {
        name: 'expire-idempotency-keys', opts: keep,
      });
    } catch (err) {
      redisFailed('scheduler', err);
      schedulerTimer = setTimeout(() => void upsertScheduler(), 2000);
      schedulerTimer.unref();
    }
  };

  const enqueue = async (op: string, fn: () => Promise<unknown>) => {
    if (closed) return false;
    try {
      await withTimeout(op, fn());
      return true;
    } catch (err) {
      redisFailed(op, err);
      return false;
    }
  };

  return {
    enqueueThumbnail(file, lsn) {
      return enqueue('enqueue:thumbnails', () => addThumbnail(file, lsn));
    },

    enqueueWarm() {
      return enqueue('enqueue:cache-warm', () => queues['cache-warm'].add('warm', {}, {
        // While one warm job waits, further adds (other apps, more purges) are dropped.
        deduplication: { id: 'warm' },
        delay: t.warmDelayMs,
        attempts: 2,
        backoff: { type: 'fixed', delay: 1000 },
        ...keep,
      }));
    },

    async summary() {
      const own = await Promise.all(queueNames.map(async (name) => {
        const c = await withTimeout(`summary:${name}`, queues[name].getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed'));
        return { queue: name, waiting: c.waiting ?? 0, active: c.active ?? 0, delayed: c.delayed ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0 };
      }));
      return deps.cdnPurge ? [...own, await deps.cdnPurge.summary()] : own;
    },

    start() {
      if (started || closed) return;
      started = true;
      // On every (re)connect: the schedulers again (a Redis that lost its data), and one sweep for
      // the uploads made while it was down (deduplicated: N apps reconnecting make one).
      producer.on('ready', () => {
        if (closed) return;
        if (!schedulerTimer) void upsertScheduler();
        void enqueue('enqueue:thumbnail-sweep', () => queues.thumbnails.add('sweep', {}, { deduplication: { id: 'thumbnail-sweep' }, ...keep }));
      });
      // Workers block on Redis: commands must wait for a reconnect rather than fail.
      workerConnection = new Redis(deps.redisUrl, {
        ...redisAuthOptions(deps.redisAuth),
        connectionName: `${deps.appName}-jobs-worker`,
        maxRetriesPerRequest: null,
        retryStrategy: (times) => Math.min(times * 200, 2000),
      });
      workerConnection.on('error', (err) => redisFailed('worker-connection', err));
      workers = queueNames.map((name) => {
        const worker = new Worker(name, processors[name], {
          connection: workerConnection!,
          prefix: t.prefix,
          // One at a time: decoding a 10 MB JPEG takes ~100 MB; the app pod's limit is 512 Mi.
          concurrency: 1,
          // Thumbnails of a few MB take well under this; a crashed app's job is retried elsewhere.
          lockDuration: 30_000,
        });
        worker.on('error', (err) => redisFailed(`worker:${name}`, err));
        worker.on('completed', (job) => finished.inc({ queue: name, job: job.name, outcome: 'completed' }));
        worker.on('failed', (job, err) => {
          finished.inc({ queue: name, job: job?.name ?? 'unknown', outcome: 'failed' });
          log.warn({ err, queue: name, jobId: job?.id, attempt: job?.attemptsMade }, 'job failed');
        });
        return worker;
      });
      void upsertScheduler();
      deps.cdnPurge?.start();
    },

    async ready(timeoutMs = 5000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
      await Promise.race([Promise.all([...workers.map((w) => w.waitUntilReady()), deps.cdnPurge?.ready(timeoutMs)]).then(() => {}), timeout]).catch(() => {});
      clearTimeout(timer);
    },

    async close() {
      closed = true;
      if (schedulerTimer) clearTimeout(schedulerTimer);
      // Workers let a running job finish (a thumbnail is short); waiting jobs stay for the other apps.
      await Promise.all([...workers.map((w) => closeBounded(w, 5000)), ...Object.values(queues).map((q) => closeBounded(q, 2000)), deps.cdnPurge?.close()]);
      for (const client of [workerConnection, producer]) {
        if (client) await withTimeout('quit', client.quit(), 1000).catch(() => client.disconnect());
      }
    },
  };
}
