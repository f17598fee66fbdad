import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import Cloudflare from 'cloudflare';
import { CloudFrontClient, CreateInvalidationCommand } from '@aws-sdk/client-cloudfront';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { loadConfig } from '../../app/config';
import { createRoutedDb, type RoutedDb } from '../../app/db/router';
import { runMigrations } from '../../app/db/migrate';
import { createTagUrlExpander } from '../../app/cdn/tag-urls';
import { createCloudFrontPurger } from '../../app/cdn/cloudfront-purger';
import { createCloudflarePurger } from '../../app/cdn/cloudflare-purger';
import { mediaTag } from '../../app/cdn/media-purge';
import { startTestPostgres, type TestPostgres } from '../helpers/services';
import { startRecordingServer, type RecordingServer } from '../unit/cdn-recording-server';

// The tag→URL expander against a real PostgreSQL (what the URL adapters purge is computed from
// the rows at purge time), and the two URL adapters' requests compared with the official SDKs'
// (`@aws-sdk/client-cloudfront` CreateInvalidationCommand, `cloudflare` client.cache.purge with
// files/prefixes/purge_everything) on a loopback server.

let pgServer: TestPostgres;
let client: pg.Client;
let db: RoutedDb;
let server: RecordingServer;
const ids: Record<string, number> = {};

const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const distributionId = 'EDFDVBD6EXAMPLE';
const zoneId = '023e105f4ecef8ad9ca31a8372d0c353';
const invalidationXml = '<?xml version="1.0"?><Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Id>I2J3K4</Id><Status>InProgress</Status>'
  + '<CreateTime>2026-12-06T10:00:00Z</CreateTime><InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch></Invalidation>';

const sql = (text: string, values: unknown[] = []) => client.query(text, values);

async function addPosts(n: number, opts: { from: number; author: string; category?: string; tag?: string; day: string }) {
  for (let i = 0; i < n; i++) {
    const slug = `post-${opts.from + i}`;
    const { rows } = await sql(
      `INSERT INTO posts (title, slug, content, author_id, status, published_at)
       VALUES ($1, $1, 'body', (SELECT id FROM users WHERE username = $2), 'published', $3::timestamptz + make_interval(mins => $4)) RETURNING id`,
      [slug, opts.author, `${opts.day}T08:00:00Z`, i],
    );
    ids[slug] = Number(rows[0].id);
    if (opts.category) await sql('INSERT INTO post_categories (post_id, category_id) SELECT $1, id FROM categories WHERE slug = $2', [rows[0].id, opts.category]);
    if (opts.tag) await sql('INSERT INTO post_tags (post_id, tag_id) SELECT $1, id FROM tags WHERE slug = $2', [rows[0].id, opts.tag]);
  }
}

beforeAll(async () => {
  pgServer = await startTestPostgres();
  const conn = { host: pgServer.primary.host, port: pgServer.primary.port, database: pgServer.dbName, user: pgServer.appUser, password: pgServer.appPassword };
  await runMigrations(conn);
  client = new pg.Client(conn);
  await client.connect();
  await sql("UPDATE site_settings SET value = '5' WHERE key = 'posts_per_page'");
  for (const u of ['alice', 'bob']) {
    await sql("INSERT INTO users (username, email, display_name, password_hash, role) VALUES ($1, $1 || '@example.test', $1, 'x', 'author')", [u]);
  }
  await sql("INSERT INTO categories (name, slug) VALUES ('Diary', 'diary'), ('日記', '日記'), ('Empty', 'empty')");
  await sql("INSERT INTO tags (name, slug) VALUES ('Travel', 'travel')");
  // 23 by alice in `diary` on 2026-03-09 (12 tagged travel via a second batch), 4 by bob in 日記 on 2026-04-01.
  await addPosts(11, { from: 1, author: 'alice', category: 'diary', day: '2026-03-09' });
  await addPosts(12, { from: 12, author: 'alice', category: 'diary', tag: 'travel', day: '2026-03-09' });
  await addPosts(4, { from: 24, author: 'bob', category: '日記', day: '2026-04-01' });
  await sql("INSERT INTO posts (title, slug, author_id, status) VALUES ('draft', 'a-draft', (SELECT id FROM users WHERE username = 'bob'), 'draft')");
  db = createRoutedDb({
    config: loadConfig({ ...pgServer.env, AIDIARY_SESSION_SECRET: 'x'.repeat(40) }),
    logger: pino({ level: 'silent' }), metrics: new Registry(),
  });
  server = await startRecordingServer({ status: 201, headers: { 'content-type': 'text/xml', location: 'https://x/inv' }, body: invalidationXml });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await db?.close();
  await client?.end();
  await pgServer?.stop();
});

const pages = (base: string, n: number) => Array.from({ length: n }, (_, i) => (i === 0 ? base : `${base.replace(/\/$/, '')}/page/${i + 1}`));

describe('tag→URL expander (real PostgreSQL)', () => {
  it('every page of each listing, one page past the end, from the rows as they are now', async () => {
    const expander = createTagUrlExpander(db);
    // 27 published posts, 5 a page: 6 pages, plus the 7th.
    expect((await expander.expand(['list:home'])).paths).toEqual(pages('/', 7));
    expect((await expander.expand(['list:category:diary'])).paths).toEqual(pages('/category/diary', 6));
    expect((await expander.expand(['list:tag:travel'])).paths).toEqual(pages('/tag/travel', 4));
    expect((await expander.expand(['list:author:bob'])).paths).toEqual(pages('/author/bob', 2));
    expect((await expander.expand(['list:category:日記'])).paths).toEqual(pages('/category/%E6%97%A5%E8%A8%98', 2));
    expect((await expander.expand(['list:category:empty'])).paths).toEqual(pages('/category/empty', 2));
    expect((await expander.expand(['list:date:2026'])).paths).toEqual(pages('/2026/', 7));
    expect((await expander.expand(['list:date:2026-03'])).paths).toEqual(pages('/2026/03/', 6));
    expect((await expander.expand(['list:date:2026-04-01'])).paths).toEqual(pages('/2026/04/01/', 2));
    expect((await expander.expand(['list:date:2026-05'])).paths).toEqual(pages('/2026/05/', 2));

    // A publish changes the page count; the next expansion reads it (nothing remembered).
    await addPosts(4, { from: 40, author: 'bob', category: '日記', day: '2026-04-02' });
    expect((await expander.expand(['list:author:bob'])).paths).toEqual(pages('/author/bob', 3));
    expect((await expander.expand(['list:home'])).paths).toEqual(pages('/', 8));
  });

  it('single posts by slug and id, feeds, sitemap, search, media; site and unknown tags are everything', async () => {
    const expander = createTagUrlExpander(db);
    const set = await expander.expand([`post:${ids['post-3']}`, 'post-slug:post-3', 'post-slug:old-slug', 'feed', 'sitemap', 'list:search', mediaTag('a'.repeat(64))]);
    expect(set.everything).toBe(false);
    expect(new Set(set.paths)).toEqual(new Set([
      '/posts/post-3', '/post-3', '/posts/old-slug', '/old-slug', '/feed.xml', '/sitemap.xml',
      ...['jpg', 'png', 'webp', 'gif'].map((e) => `/media/${'a'.repeat(64)}.${e}`), `/media/${'a'.repeat(64)}/thumb.webp`,
    ]));
    expect(set.prefixes).toEqual(['/search']);
    expect(await expander.expand(['list:home', 'site'])).toEqual({ everything: true, paths: [], prefixes: [] });
    expect((await expander.expand(['list:home', 'some-future-tag'])).everything).toBe(true);
  });

  it('past maxPagesPerListing: the base page and the `/page/` prefix', async () => {
    const set = await createTagUrlExpander(db, { maxPagesPerListing: 3 }).expand(['list:home', 'list:category:diary', 'list:date:2026-03', 'list:author:bob']);
    // bob: 8 posts = 2 pages + 1 = 3, within the bound: listed page by page.
    expect(new Set(set.paths)).toEqual(new Set(['/', '/category/diary', '/2026/03/', ...pages('/author/bob', 3)]));
    expect(new Set(set.prefixes)).toEqual(new Set(['/page/', '/category/diary/page/', '/2026/03/page/']));
  });
});

describe('CloudFront (SDK: @aws-sdk/client-cloudfront CreateInvalidationCommand)', () => {
  async function sdkRequest(paths: string[], callerReference: string) {
    const c = new CloudFrontClient({ region: 'us-east-1', endpoint: server.url, credentials, maxAttempts: 1 });
    const res = await c.send(new CreateInvalidationCommand({ DistributionId: distributionId, InvalidationBatch: { Paths: { Quantity: paths.length, Items: paths }, CallerReference: callerReference } }));
    expect(res.Invalidation?.Id).toBe('I2J3K4');
    return server.take()[0];
  }

  it('an invalidation of the expanded paths: same method, path, content type and XML body; a valid SigV4 signature', async () => {
    server.fallback = { status: 201, headers: { 'content-type': 'text/xml' }, body: invalidationXml };
    const tags = ['post-slug:post-3', 'list:author:bob', 'feed'];
    const expected = await createTagUrlExpander(db).expand(tags);
    const purger = createCloudFrontPurger({ distributionId, credentials, expander: createTagUrlExpander(db), apiBase: server.url, callerReference: () => 'aidiary-ref-1' });
    const outcome = await purger.purge(tags);
    const [ours] = server.take();
    const theirs = await sdkRequest(expected.paths, 'aidiary-ref-1');
    expect(ours.method).toBe(theirs.method);
    expect(ours.path).toBe(theirs.path);
    expect(ours.path).toBe(`/2020-05-31/distribution/${distributionId}/invalidation`);
    expect(ours.headers['content-type']).toBe(theirs.headers['content-type']);
    expect(ours.body).toBe(theirs.body);
    expect(ours.body).toContain('<Path>/author/bob/page/3</Path>');
    expect(outcome).toEqual({ requests: 1, items: expected.paths.length });

    // The signature: recomputed by the official signer over the headers we signed.
    const auth = ours.headers.authorization as string;
    const signed = /SignedHeaders=([^,]+)/.exec(auth)![1].split(';');
    expect(signed).toEqual(['content-type', 'host', 'x-amz-content-sha256', 'x-amz-date']);
    const amzDate = ours.headers['x-amz-date'] as string;
    const signingDate = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
    const signer = new SignatureV4({ credentials, region: 'us-east-1', service: 'cloudfront', sha256: Hash.bind(null, 'sha256') });
    const recomputed = await signer.sign({
      method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: server.port, path: ours.path,
      headers: Object.fromEntries(signed.map((h) => [h, ours.headers[h] as string])), body: ours.body,
    }, { signingDate });
    expect(auth).toBe(recomputed.headers.authorization);
    expect(auth).toContain(`Credential=${credentials.accessKeyId}/`);
    expect(theirs.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/us-east-1\/cloudfront\/aws4_request/);
  });

  it('site → one `/*` invalidation; a listing past the bound → its `/page/*` wildcard; a refusal rejects', async () => {
    const purger = (max = 20) => createCloudFrontPurger({ distributionId, credentials, expander: createTagUrlExpander(db, { maxPagesPerListing: max }), apiBase: server.url, callerReference: () => 'ref' });
    await purger().purge(['site', 'post:1']);
    expect(server.take().map((r) => r.body)).toEqual([(await sdkRequest(['/*'], 'ref')).body]);
    await purger(2).purge(['list:home']);
    expect(server.take()[0].body).toContain('<Quantity>2</Quantity><Items><Path>/</Path><Path>/page/*</Path></Items>');
    server.respond = [{ status: 400, headers: { 'content-type': 'text/xml' }, body: '<ErrorResponse><Error><Code>TooManyInvalidationsInProgress</Code></Error></ErrorResponse>' }];
    await expect(purger().purge(['feed'])).rejects.toThrow(/cloudfront purge failed: .*answered 400.*TooManyInvalidationsInProgress/);
    server.take();
  });
});

describe('Cloudflare by URL (SDK: cloudflare client.cache.purge with files / prefixes / purge_everything)', () => {
  const cfOk = { status: 200, body: JSON.stringify({ success: true, errors: [], messages: [], result: { id: 'p' } }) };
  const sdk = () => new Cloudflare({ apiToken: 'cf-token', baseURL: server.url, maxRetries: 0 });
  const purger = (max = 20) => createCloudflarePurger({
    zoneId, apiToken: 'cf-token', mode: 'urls', siteUrl: 'https://blog.example', expander: createTagUrlExpander(db, { maxPagesPerListing: max }), apiBase: server.url,
  });

  it('files as absolute URLs of the site, prefixes as host/path, site as purge_everything', async () => {
    server.fallback = cfOk;
    const expected = await createTagUrlExpander(db).expand(['post-slug:post-3', 'list:tag:travel', 'list:search']);
    await purger().purge(['post-slug:post-3', 'list:tag:travel', 'list:search']);
    const [files, prefixes] = server.take();
    await sdk().cache.purge({ zone_id: zoneId, files: expected.paths.map((p) => `https://blog.example${p}`) });
    await sdk().cache.purge({ zone_id: zoneId, prefixes: ['blog.example/search'] });
    const [sdkFiles, sdkPrefixes] = server.take();
    for (const [a, b] of [[files, sdkFiles], [prefixes, sdkPrefixes]]) {
      expect(a.method).toBe(b.method);
      expect(a.path).toBe(b.path);
      expect(a.headers.authorization).toBe(b.headers.authorization);
      expect(JSON.parse(a.body)).toEqual(JSON.parse(b.body));
    }
    expect(JSON.parse(files.body).files).toContain('https://blog.example/tag/travel/page/3');

    await purger().purge(['site']);
    await sdk().cache.purge({ zone_id: zoneId, purge_everything: true });
    const [everything, sdkEverything] = server.take();
    expect(JSON.parse(everything.body)).toEqual(JSON.parse(sdkEverything.body));
    expect(JSON.parse(everything.body)).toEqual({ purge_everything: true });
  });
});
