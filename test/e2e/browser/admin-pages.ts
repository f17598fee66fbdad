import type { Locator, Page } from 'playwright-core';

// Page objects for the admin screens. Selectors go by label, role and visible text (what a user
// sees), not by CSS classes, so markup changes that keep the screen usable keep these working.
// The two preview boxes have no accessible name, so they are found by their data-testid.

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

/** Reads a table cell by its column header's text, so column order does not matter. */
async function cellByHeader(row: Locator, table: Locator, header: string): Promise<string> {
  const headers = (await table.getByRole('columnheader').allTextContents()).map((h) => h.trim());
  const col = headers.indexOf(header);
  if (col < 0) throw new Error(`no "${header}" column (${headers.join(', ')})`);
  return ((await row.getByRole('cell').nth(col).textContent()) ?? '').trim();
}

export class AdminDashboard {
  constructor(private readonly page: Page) {}

  /** Role and health of a database node in the dashboard's cluster-health table. */
  async databaseNode(name: string): Promise<{ role: string; health: string }> {
    const table = this.page.getByRole('table').filter({ has: this.page.getByRole('columnheader', { name: 'Lag (bytes)' }) });
    const row = table.getByRole('row').filter({ has: this.page.getByRole('cell', { name, exact: true }) });
    return { role: await cellByHeader(row, table, 'Role'), health: await cellByHeader(row, table, 'Health') };
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

  /** The live preview beside the textarea (the editor script renders the Markdown while you type). */
  livePreview() {
    return this.page.getByTestId('live-preview');
  }

  /** The preview the Preview button asks the server for (works without JavaScript). */
  serverPreview() {
    return this.page.getByTestId('server-preview');
  }

  async showServerPreview(): Promise<void> {
    await this.page.getByRole('button', { name: 'Preview' }).click();
    await this.serverPreview().waitFor();
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

export class AdminMediaLibrary {
  constructor(private readonly page: Page, private readonly base: string) {}

  async open(): Promise<void> {
    await this.page.goto(`${this.base}/admin/media`);
  }

  /** Uploads through the form's file input; waits for the library page that follows. */
  async upload(file: { name: string; mimeType: string; buffer: Buffer }): Promise<void> {
    await this.page.getByLabel(/^Image/).setInputFiles(file);
    await this.page.getByRole('button', { name: 'Upload' }).click();
    await this.page.waitForURL((url) => url.pathname === '/admin/media' && url.searchParams.has('uploaded'));
  }

  /** The library row of a file, found by its original name. */
  row(fileName: string) {
    return this.page.getByRole('row').filter({ hasText: fileName });
  }

  /**
   * Reloads the library until the file's picture is its thumbnail (made by a background job) rather
   * than the original; the ms it took.
   */
  async waitForThumbnail(fileName: string, timeoutMs = 30_000): Promise<number> {
    const started = Date.now();
    for (;;) {
      await this.open();
      const src = await this.row(fileName).getByRole('img').getAttribute('src');
      if (src && /thumb/.test(src)) return Date.now() - started;
      if (Date.now() - started > timeoutMs) throw new Error(`${fileName}: still no thumbnail in the library after ${timeoutMs} ms (img src ${src})`);
      await this.page.waitForTimeout(500);
    }
  }

  /** The Markdown snippet the library offers for a file (what an author pastes into a post). */
  async markdownFor(fileName: string): Promise<string> {
    return this.row(fileName).getByLabel('Markdown', { exact: true }).inputValue();
  }
}

export interface NewUser { username: string; email: string; displayName: string; role: string; password: string }

export class AdminUsers {
  constructor(private readonly page: Page, private readonly base: string) {}

  async open(): Promise<void> {
    await this.page.goto(`${this.base}/admin/users`);
  }

  row(username: string) {
    return this.page.getByRole('row').filter({ has: this.page.getByRole('cell', { name: username, exact: true }) });
  }

  /** The Role column of a user's row. */
  async roleOf(username: string): Promise<string> {
    const table = this.page.getByRole('table').filter({ has: this.page.getByRole('columnheader', { name: 'Username' }) });
    return cellByHeader(this.row(username), table, 'Role');
  }

  async create(user: NewUser): Promise<void> {
    await this.open();
    await this.page.getByRole('link', { name: 'New user' }).click();
    await this.page.getByLabel('Username').fill(user.username);
    await this.page.getByLabel('E-mail').fill(user.email);
    await this.page.getByLabel('Display name').fill(user.displayName);
    await this.page.getByLabel('Role').selectOption(user.role);
    await this.page.getByLabel(/^Password \(/).fill(user.password);
    await this.page.getByLabel('Password again').fill(user.password);
    await this.page.getByRole('button', { name: 'Create user' }).click();
    await this.page.waitForURL((url) => url.pathname === '/admin/users');
  }

  async changeRole(username: string, role: string): Promise<void> {
    await this.open();
    await this.row(username).getByRole('link', { name: 'Edit' }).click();
    await this.page.getByLabel('Role').selectOption(role);
    await this.page.getByRole('button', { name: 'Save', exact: true }).click();
    await this.page.waitForURL((url) => url.pathname === '/admin/users');
  }
}

export class AdminSettings {
  constructor(private readonly page: Page, private readonly base: string) {}

  async open(): Promise<void> {
    await this.page.goto(`${this.base}/admin/settings`);
  }

  async setTagline(tagline: string): Promise<void> {
    await this.page.getByLabel('Tagline').fill(tagline);
    await this.page.getByRole('button', { name: 'Save settings' }).click();
    await this.page.waitForURL((url) => url.pathname === '/admin/settings' && url.searchParams.has('saved'));
  }
}
