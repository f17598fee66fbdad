import type { Page } from 'playwright-core';
import { loadedImageWidths } from './images';

// The public site as an anonymous visitor sees it (no session cookie, so nginx's 1 s micro-cache
// and the apps' page caches are in play).

export class PublicSite {
  constructor(private readonly page: Page, private readonly base: string) {}

  async openHome(): Promise<void> {
    const res = await this.page.goto(`${this.base}/`);
    if (res?.status() !== 200) throw new Error(`home page answered ${res?.status()}`);
  }

  /** The link to a post on the page currently open (home: the post cards' titles). */
  postLink(title: string) {
    return this.page.getByRole('link', { name: title, exact: true });
  }

  /**
   * Reloads the home page until the post's link is (or is no longer) there: after a publish the
   * apps purge their caches at once, but nginx may serve its micro-cached copy for up to 1 s.
   */
  async waitForHomeListing(title: string, listed: boolean, timeoutMs = 10_000): Promise<number> {
    const started = Date.now();
    for (;;) {
      await this.openHome();
      if ((await this.postLink(title).count() > 0) === listed) return Date.now() - started;
      if (Date.now() - started > timeoutMs) throw new Error(`"${title}" still ${listed ? 'missing from' : 'listed on'} the home page after ${timeoutMs} ms`);
      await this.page.waitForTimeout(250);
    }
  }

  /** Reloads the home page until `text` shows (a settings change purges every page); the ms it took. */
  async waitForText(text: string, timeoutMs = 10_000): Promise<number> {
    const started = Date.now();
    for (;;) {
      await this.openHome();
      if (await this.page.getByText(text, { exact: true }).count() > 0) return Date.now() - started;
      if (Date.now() - started > timeoutMs) throw new Error(`"${text}" not on the home page after ${timeoutMs} ms`);
      await this.page.waitForTimeout(250);
    }
  }

  /**
   * Reloads a post until its <h1> is `title` (edge micro-cache: up to 1 s); the ms it took. The
   * error names the cache headers of the last answer, to tell an edge copy from a stale app cache.
   */
  async waitForPostTitle(path: string, title: string, timeoutMs = 10_000): Promise<number> {
    const started = Date.now();
    for (;;) {
      const res = await this.page.goto(`${this.base}${path}`);
      const h1 = await this.page.getByRole('heading', { level: 1 }).first().textContent();
      if (res?.status() === 200 && h1?.trim() === title) return Date.now() - started;
      if (Date.now() - started > timeoutMs) {
        const h = res?.headers() ?? {};
        throw new Error(`${path} still shows "${h1}" (status ${res?.status()}, X-Edge-Cache ${h['x-edge-cache']}, X-Cache ${h['x-cache']}, X-Served-By ${h['x-served-by']}) after ${timeoutMs} ms`);
      }
      await this.page.waitForTimeout(250);
    }
  }

  /** Loads `path` until it answers `expected` (edge micro-cache: up to 1 s) or 5 s pass; the last status. */
  async statusOnceSettled(path: string, expected: number): Promise<number> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const status = (await this.page.goto(`${this.base}${path}`))?.status() ?? 0;
      if (status === expected || Date.now() > deadline) return status;
      await this.page.waitForTimeout(250);
    }
  }

  /** naturalWidth of every image in the post body (0 = it did not load). */
  async postImageWidths(): Promise<number[]> {
    return loadedImageWidths(this.page.getByRole('article'));
  }
}
