import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { BASE_PORT_SPAN } from '../../infra/local/cluster-layout';
import { freePortBlock } from '../../infra/local/process';
import { runCli } from './helpers-cluster';
import { launchSystemChromium } from './browser/chromium';
import { AdminDashboard, AdminLogin, AdminMediaLibrary, AdminPostEditor, AdminPostsList, AdminSettings, AdminUsers } from './browser/admin-pages';
import { loadedImageWidths } from './browser/images';
import { PublicSite } from './browser/public-pages';
import { pngInfo, resetScreenshots, screenshot, screenshotDir } from './browser/screenshots';
import { drawPng } from './browser/test-image';

// A real Chromium (Debian's, through playwright-core) drives the admin of a real local cluster
// (3 apps, PostgreSQL primary + 2 replicas, both Redis roles) THROUGH THE NGINX LOAD BALANCER, as a
// user would: log in, upload an image, write and publish a post with it, see it as an anonymous
// visitor, edit and unpublish it, manage a user, change a setting. Every main screen is saved as a
// PNG in test-output/screenshots/. One cluster, one browser; the steps run in order and share the
// admin's browser context.

const stateDir = mkdtempSync(join(tmpdir(), 'aidiary-browser-'));
chmodSync(stateDir, 0o755);
const cli = (...args: string[]) => runCli([...args, '--state-dir', stateDir]);
const suiteStarted = Date.now();
const viewport = { width: 1280, height: 900 };

let base = '';
let adminPassword = '';
let browser: Browser;
let admin: BrowserContext;
let adminPage: Page;
let visitor: BrowserContext;
let visitorPage: Page;
/** X-Served-By of every admin HTML page the browser loaded: the session must work on any app. */
const adminServedBy = new Map<string, number>();

const runId = Date.now().toString(36);
const image = { name: `browser-${runId}.png`, width: 640, height: 400, markdown: '', url: '', uploadedAt: 0 };
const post = { title: `Browser test post ${runId}`, editedTitle: `Browser test post ${runId} (edited)`, id: 0, path: '' };
const author = { username: `author_${runId}`, email: `author-${runId}@example.test`, displayName: `Author ${runId}`, role: 'author', password: `Browser${runId}pass1` };

async function newContext(): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport });
  // Generous: 7 agents share 2 cores here, and argon2 logins alone take seconds under that load.
  context.setDefaultTimeout(30_000);
  return context;
}

beforeAll(async () => {
  resetScreenshots();
  // Launch first: a machine without Chromium fails here in a second, naming the install command.
  browser = await launchSystemChromium();
  const basePort = await freePortBlock(BASE_PORT_SPAN);
  const r = await cli('up', '--detach', '--apps', '3', '--db-replicas', '2', '--base-port', String(basePort));
  if (r.code !== 0) throw new Error(`up failed (${r.code}): ${r.stderr}`);
  base = `http://127.0.0.1:${basePort}`;
  // `up` prints where the admin password is, never the password itself.
  const passwordFile = /password in (\S+)/.exec(r.stdout + r.stderr)?.[1];
  if (!passwordFile) throw new Error(`up did not print the admin password file:\n${r.stdout}${r.stderr}`);
  adminPassword = readFileSync(passwordFile, 'utf8').trim();

  admin = await newContext();
  admin.on('response', (res) => {
    if (res.request().resourceType() !== 'document' || !new URL(res.url()).pathname.startsWith('/admin')) return;
    const app = res.headers()['x-served-by'];
    if (app) adminServedBy.set(app, (adminServedBy.get(app) ?? 0) + 1);
  });
  adminPage = await admin.newPage();
  visitor = await newContext();
  visitorPage = await visitor.newPage();
}, 240_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await cli('down').catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
  console.log(`[browser] suite: ${Date.now() - suiteStarted} ms; admin pages served by ${JSON.stringify(Object.fromEntries(adminServedBy))}`);
}, 120_000);

describe('the admin in Chromium, through nginx, on 3 apps + 2 replicas', { timeout: 120_000 }, () => {
  it('without Chromium the run fails naming the apt command (it never skips)', async () => {
    await expect(launchSystemChromium('/nonexistent/chromium')).rejects.toThrow(/Chromium at \/nonexistent\/chromium[\s\S]*apt-get install -y chromium/);
  });

  it('logs in through the form and lands on the dashboard', async () => {
    await new AdminLogin(adminPage, base).logIn('admin', adminPassword);
    await expect(adminPage.getByRole('heading', { name: 'Dashboard', level: 1 }).isVisible()).resolves.toBe(true);
    await expect(adminPage.getByText('admin (admin)').isVisible()).resolves.toBe(true);
    // Cluster health as the dashboard reports it: the primary and both replicas, up.
    const dashboard = new AdminDashboard(adminPage);
    await expect(dashboard.databaseNode('pg-0')).resolves.toEqual({ role: 'primary', health: 'up' });
    await expect(dashboard.databaseNode('pg-1')).resolves.toEqual({ role: 'replica', health: 'up' });
    await expect(dashboard.databaseNode('pg-2')).resolves.toEqual({ role: 'replica', health: 'up' });
    await screenshot(adminPage, 'dashboard');
  });

  it('uploads an image in the media library, which offers its Markdown', async () => {
    const media = new AdminMediaLibrary(adminPage, base);
    await media.open();
    await media.upload({ name: image.name, mimeType: 'image/png', buffer: await drawPng(browser, image.width, image.height, `AIDiary ${runId}`) });
    image.uploadedAt = Date.now();
    await expect(adminPage.getByRole('status').textContent()).resolves.toMatch(/Uploaded/);
    image.markdown = await media.markdownFor(image.name);
    image.url = /\((\/media\/[0-9a-f]{64}\.png)\)/.exec(image.markdown)?.[1] ?? '';
    expect(image.url, image.markdown).not.toBe('');
    // The library shows the file (its thumbnail, or the original while the thumbnail job runs).
    const [shownWidth] = await loadedImageWidths(media.row(image.name));
    expect(shownWidth).toBeGreaterThan(0);
    await screenshot(adminPage, 'media-library');
  });

  it('writes a post with the image, previews it live and on the server, and publishes it', async () => {
    const editor = new AdminPostEditor(adminPage, base);
    await editor.openNew();
    await editor.fill({
      title: post.title,
      content: `## Written in a real browser\n\nThis post was typed by **Playwright** into the admin (run ${runId}).\n\n${image.markdown}\n`,
      status: 'published',
    });
    // The live preview renders the Markdown while typing, image included.
    await editor.livePreview().getByRole('heading', { name: 'Written in a real browser' }).waitFor();
    expect(await loadedImageWidths(editor.livePreview())).toEqual([image.width]);
    // The Preview button renders it on the server and keeps what was typed.
    await editor.showServerPreview();
    await expect(editor.serverPreview().getByRole('heading', { name: 'Written in a real browser' }).isVisible()).resolves.toBe(true);
    await expect(editor.serverPreview().locator('strong', { hasText: 'Playwright' }).count()).resolves.toBe(1);
    expect(await loadedImageWidths(editor.serverPreview())).toEqual([image.width]);
    await expect(adminPage.getByLabel('Title', { exact: true }).inputValue()).resolves.toBe(post.title);
    await screenshot(adminPage, 'post-editor');

    post.id = await editor.save();
    expect(post.id).toBeGreaterThan(0);
    post.path = await editor.publicPath();
    expect(post.path).toMatch(/^\/posts\//);
    await expect(adminPage.getByLabel('Status', { exact: true }).inputValue()).resolves.toBe('published');
  });

  it('lists the post as published in the posts list and among the dashboard\'s recent posts', async () => {
    const list = new AdminPostsList(adminPage, base);
    await list.open('published');
    await expect(list.row(post.title).count()).resolves.toBe(1);
    await expect(list.row(post.title).getByRole('cell', { name: 'published', exact: true }).count()).resolves.toBe(1);
    await screenshot(adminPage, 'posts-list');
    // Read-your-writes: whichever app and replica serve the dashboard, the new post is there.
    await adminPage.goto(`${base}/admin/dashboard`);
    await expect(adminPage.getByRole('link', { name: post.title, exact: true }).count()).resolves.toBe(1);
  });

  it('an anonymous visitor sees it on the home page, opens it, and the image loads', async () => {
    const site = new PublicSite(visitorPage, base);
    const waitedMs = await site.waitForHomeListing(post.title, true);
    console.log(`[browser] published post on the public home page after ${waitedMs} ms`);
    await screenshot(visitorPage, 'public-home');
    const imageResponse = visitorPage.waitForResponse((res) => new URL(res.url()).pathname === image.url);
    await site.postLink(post.title).click();
    await visitorPage.waitForURL((url) => url.pathname === post.path);
    await expect(visitorPage.getByRole('heading', { name: post.title, level: 1 }).isVisible()).resolves.toBe(true);
    await expect(visitorPage.getByRole('heading', { name: 'Written in a real browser' }).isVisible()).resolves.toBe(true);
    expect(await site.postImageWidths()).toEqual([image.width]);
    const res = await imageResponse;
    expect(res.status()).toBe(200);
    expect(res.headers()['content-type']).toBe('image/png');
    // Content-addressed (SHA-256 in the URL), so browsers may keep it for good.
    expect(res.headers()['cache-control']).toMatch(/immutable/);
    expect(Number(/max-age=(\d+)/.exec(res.headers()['cache-control'] ?? '')?.[1])).toBeGreaterThanOrEqual(30 * 86400);
    expect(await visitor.cookies()).toEqual([]); // anonymous: no session cookie was ever set
    await screenshot(visitorPage, 'public-post');
  });

  it('edits the post: the visitor sees the new title', async () => {
    const list = new AdminPostsList(adminPage, base);
    await list.open();
    await list.openEditor(post.title);
    const editor = new AdminPostEditor(adminPage, base);
    await editor.fill({ title: post.editedTitle });
    expect(await editor.save()).toBe(post.id);
    const site = new PublicSite(visitorPage, base);
    const homeMs = await site.waitForHomeListing(post.editedTitle, true);
    const postMs = await site.waitForPostTitle(post.path, post.editedTitle);
    console.log(`[browser] edited title on the home page after ${homeMs} ms, on the post page ${postMs} ms later`);
    await site.openHome();
    await expect(site.postLink(post.title).count()).resolves.toBe(0); // the old title is gone, not listed twice
  });

  it('unpublishes the post: it leaves the home page and its URL answers 404', async () => {
    await adminPage.goto(`${base}/admin/posts/${post.id}/edit`);
    const editor = new AdminPostEditor(adminPage, base);
    await editor.fill({ status: 'draft' });
    expect(await editor.save()).toBe(post.id);
    const site = new PublicSite(visitorPage, base);
    const waitedMs = await site.waitForHomeListing(post.editedTitle, false);
    console.log(`[browser] unpublished post gone from the public home page after ${waitedMs} ms`);
    expect(await site.statusOnceSettled(post.path, 404)).toBe(404);
    const list = new AdminPostsList(adminPage, base);
    await list.open('draft');
    await expect(list.row(post.editedTitle).count()).resolves.toBe(1);
  });

  it('creates an author who can log in, then makes them an editor (their session ends)', async () => {
    const users = new AdminUsers(adminPage, base);
    await users.create(author);
    await expect(adminPage.getByRole('status').textContent()).resolves.toMatch(/created/i);
    await expect(users.roleOf(author.username)).resolves.toBe('author');

    const authorContext = await newContext();
    try {
      const authorPage = await authorContext.newPage();
      await new AdminLogin(authorPage, base).logIn(author.username, author.password);
      await expect(authorPage.getByText(`${author.username} (author)`).isVisible()).resolves.toBe(true);
      expect((await authorPage.goto(`${base}/admin/users`))?.status()).toBe(403); // authors do not manage users

      await users.changeRole(author.username, 'editor');
      await expect(users.roleOf(author.username)).resolves.toBe('editor');
      await screenshot(adminPage, 'users');

      // The role change ended the author's sessions: the next page asks them to log in again.
      await authorPage.goto(`${base}/admin/dashboard`);
      expect(new URL(authorPage.url()).pathname).toBe('/admin/login');
      await new AdminLogin(authorPage, base).logIn(author.username, author.password);
      await expect(authorPage.getByText(`${author.username} (editor)`).isVisible()).resolves.toBe(true);
    } finally {
      await authorContext.close();
    }
  });

  it('changes the site tagline in settings and the public home page shows it', async () => {
    const tagline = `Tagline set by a browser ${runId}`;
    const settings = new AdminSettings(adminPage, base);
    await settings.open();
    await settings.setTagline(tagline);
    await expect(adminPage.getByLabel('Tagline').inputValue()).resolves.toBe(tagline);
    await screenshot(adminPage, 'settings');
    const site = new PublicSite(visitorPage, base);
    const waitedMs = await site.waitForText(tagline);
    console.log(`[browser] new tagline on the public home page after ${waitedMs} ms`);
  });

  it('the thumbnail job\'s result replaces the original in the media library', async () => {
    const media = new AdminMediaLibrary(adminPage, base);
    await media.waitForThumbnail(image.name);
    console.log(`[browser] thumbnail shown in the library at most ${Date.now() - image.uploadedAt} ms after the upload`);
    // The thumbnail is a smaller copy: the library no longer sends the full-size original.
    const [thumbWidth] = await loadedImageWidths(media.row(image.name));
    expect(thumbWidth).toBeGreaterThan(0);
    expect(thumbWidth).toBeLessThan(image.width);
  });

  it('the admin session worked on more than one app behind nginx', () => {
    expect(adminServedBy.size).toBeGreaterThanOrEqual(2);
  });

  it('wrote a PNG screenshot of each main screen', () => {
    const screens = ['dashboard', 'posts-list', 'post-editor', 'media-library', 'users', 'settings', 'public-home', 'public-post'];
    for (const name of screens) {
      const info = pngInfo(`${screenshotDir}${name}.png`);
      expect(info.bytes, name).toBeGreaterThan(1000);
      expect(info.width, name).toBe(viewport.width);
      expect(info.height, name).toBeGreaterThanOrEqual(viewport.height);
    }
  });
});
