import type { Page } from 'playwright-core';

// Page objects for the admin screens. Selectors go by label, role and visible text (what a user
// sees), not by CSS classes, so markup changes that keep the screen usable keep these working.

export class AdminLogin {
  constructor(private readonly page: Page, private readonly base: string) {}

  /** Opens a protected page, follows the redirect to the login form, logs in, lands back on it. */
  async logIn(username: string, password: string, target = '/admin/dashboard'): Promise<void> {
    await this.page.goto(`${this.base}${target}`);
    await this.page.getByLabel('Username').fill(username);
    await this.page.getByLabel('Password', { exact: true }).fill(password);
    await this.page.getByRole('button', { name: 'Log in' }).click();
    await this.page.waitForURL((url) => url.pathname === target);
  }
}

export class AdminPostsList {
  constructor(private readonly page: Page, private readonly base: string) {}

  async open(status: 'all' | 'published' | 'draft' | 'unlisted' | 'trash' = 'all'): Promise<void> {
    await this.page.goto(`${this.base}/admin/posts?status=${status}`);
  }

  /** The table row of the post with this title. */
  row(title: string) {
    return this.page.getByRole('row').filter({ has: this.page.getByRole('link', { name: title, exact: true }) });
  }

  async openEditor(title: string): Promise<void> {
    await this.page.getByRole('link', { name: title, exact: true }).click();
    await this.page.waitForURL(/\/admin\/posts\/\d+\/edit/);
  }
}

export interface PostFields { title?: string; content?: string; status?: 'draft' | 'published' | 'unlisted' }

export class AdminPostEditor {
  constructor(private readonly page: Page, private readonly base: string) {}

  async openNew(): Promise<void> {
    await this.page.goto(`${this.base}/admin/posts/new`);
  }

  async fill(fields: PostFields): Promise<void> {
    if (fields.title !== undefined) await this.page.getByLabel('Title', { exact: true }).fill(fields.title);
    if (fields.content !== undefined) await this.page.getByLabel(/^Content/).fill(fields.content);
    if (fields.status !== undefined) await this.page.getByLabel('Status', { exact: true }).selectOption(fields.status);
  }

  /** The Markdown rendered as HTML: its headings and images appear on the page only there. */
  async showPreview(): Promise<void> {
    // The server-rendered preview is a form button; a live (script) preview may replace it.
    await this.page.getByRole('button', { name: 'Preview' }).click();
    await this.page.getByRole('heading', { name: 'Preview' }).waitFor();
  }

  /** Saves and waits for the edit page of the saved post; returns its id. */
  async save(): Promise<number> {
    await this.page.getByRole('button', { name: 'Save' }).click();
    await this.page.waitForURL(/\/admin\/posts\/\d+\/edit\?saved=1/);
    return Number(/\/admin\/posts\/(\d+)\/edit/.exec(this.page.url())![1]);
  }

  /** The public URL the editor shows for a saved post. */
  async publicPath(): Promise<string> {
    const link = this.page.getByRole('link', { name: /^\/posts\// });
    return (await link.getAttribute('href'))!;
  }
}
