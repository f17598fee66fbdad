import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { BASE_PORT_SPAN } from '../../infra/local/cluster-layout';
import { freePortBlock } from '../../infra/local/process';
import { runCli } from './helpers-cluster';
import { launchSystemChromium } from './browser/chromium';
import { AdminLogin, AdminPostEditor, AdminPostsList } from './browser/admin-pages';
import { PublicSite } from './browser/public-pages';
import { pngInfo, resetScreenshots, screenshot, screenshotDir } from './browser/screenshots';

// A real Chromium (Debian's, through playwright-core) drives the admin of a real local cluster
// (3 apps, PostgreSQL primary + 2 replicas, both Redis roles) THROUGH THE NGINX LOAD BALANCER, as a
// user would: log in, write and publish a post, see it as an anonymous visitor, edit and unpublish
// it. Every main screen is saved as a PNG in test-output/screenshots/. One cluster, one browser;
// the steps below run in order and share the admin's browser context.

const stateDir = mkdtempSync(join(tmpdir(), 'aidiary-browser-'));
chmodSync(stateDir, 0o755);
const cli = (...args: string[]) => runCli([...args, '--state-dir', stateDir]);
const suiteStarted = Date.now();

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
const post = { title: `Browser test post ${runId}`, editedTitle: `Browser test post ${runId} (edited)`, id: 0, path: '' };

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

  admin = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  admin.setDefaultTimeout(15_000);
  admin.on('response', (res) => {
    if (res.request().resourceType() !== 'document' || !new URL(res.url()).pathname.startsWith('/admin')) return;
    const app = res.headers()['x-served-by'];
    if (app) adminServedBy.set(app, (adminServedBy.get(app) ?? 0) + 1);
  });
  adminPage = await admin.newPage();
  visitor = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  visitor.setDefaultTimeout(15_000);
  visitorPage = await visitor.newPage();
}, 240_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await cli('down').catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
  console.log(`[browser] suite: ${Date.now() - suiteStarted} ms; admin pages served by ${JSON.stringify(Object.fromEntries(adminServedBy))}`);
}, 120_000);

describe('the admin in Chromium, through nginx, on 3 apps + 2 replicas', () => {
  it('without Chromium the run fails naming the apt command (it never skips)', async () => {
    await expect(launchSystemChromium('/nonexistent/chromium')).rejects.toThrow(/Chromium at \/nonexistent\/chromium[\s\S]*apt-get install -y chromium/);
  });

  it('logs in through the form and lands on the dashboard', async () => {
    await new AdminLogin(adminPage, base).logIn('admin', adminPassword);
    await expect(adminPage.getByRole('heading', { name: 'Dashboard', level: 1 }).isVisible()).resolves.toBe(true);
    await expect(adminPage.getByText('admin (admin)').isVisible()).resolves.toBe(true);
    await screenshot(adminPage, 'dashboard');
  });

  it('writes a post, previews its Markdown, and publishes it', async () => {
    const editor = new AdminPostEditor(adminPage, base);
    await editor.openNew();
    await editor.fill({
      title: post.title,
      content: `## Written in a real browser\n\nThis post was typed by **Playwright** into the admin (run ${runId}).\n\n- one\n- two\n`,
      status: 'published',
    });
    await editor.showPreview();
    // Only the preview renders the Markdown: the heading and the bold text exist as HTML there.
    await expect(adminPage.getByRole('heading', { name: 'Written in a real browser' }).isVisible()).resolves.toBe(true);
    await expect(adminPage.locator('strong', { hasText: 'Playwright' }).count()).resolves.toBe(1);
    // The preview keeps what was typed.
    await expect(adminPage.getByLabel('Title', { exact: true }).inputValue()).resolves.toBe(post.title);
    await screenshot(adminPage, 'post-editor');

    post.id = await editor.save();
    expect(post.id).toBeGreaterThan(0);
    post.path = await editor.publicPath();
    expect(post.path).toMatch(/^\/posts\//);
    await expect(adminPage.getByLabel('Status', { exact: true }).inputValue()).resolves.toBe('published');
  });

  it('lists the post as published in the posts list', async () => {
    const list = new AdminPostsList(adminPage, base);
    await list.open('published');
    await expect(list.row(post.title).count()).resolves.toBe(1);
    await expect(list.row(post.title).getByRole('cell', { name: 'published', exact: true }).count()).resolves.toBe(1);
    await screenshot(adminPage, 'posts-list');
  });

  it('an anonymous visitor sees it on the home page and opens it', async () => {
    const site = new PublicSite(visitorPage, base);
    const waitedMs = await site.waitForHomeListing(post.title, true);
    console.log(`[browser] published post on the public home page after ${waitedMs} ms`);
    expect(await visitor.cookies()).toEqual([]); // anonymous: no session cookie was ever set
    await screenshot(visitorPage, 'public-home');
    await site.postLink(post.title).click();
    await visitorPage.waitForURL((url) => url.pathname === post.path);
    await expect(visitorPage.getByRole('heading', { name: post.title, level: 1 }).isVisible()).resolves.toBe(true);
    await expect(visitorPage.getByRole('heading', { name: 'Written in a real browser' }).isVisible()).resolves.toBe(true);
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

  it('the admin session worked on more than one app behind nginx', () => {
    expect(adminServedBy.size).toBeGreaterThanOrEqual(2);
  });

  it('wrote a PNG screenshot of each main screen', () => {
    for (const name of ['dashboard', 'posts-list', 'post-editor', 'public-home', 'public-post']) {
      const info = pngInfo(`${screenshotDir}${name}.png`);
      expect(info.bytes, name).toBeGreaterThan(1000);
      expect(info.width, name).toBe(1280);
      expect(info.height, name).toBeGreaterThanOrEqual(900);
    }
  });
});
