import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { assertWellFormedXml } from '../helpers/html';
import { createCast, type Cast } from './auth-test-helpers';

// What a feed reader gets from /feed.xml once it has decoded the XML: each <description> is HTML
// (readers render it as such), so it must be the pages' sanitized HTML, never an author's raw
// markup; titles are text. The posts are written by an author through the JSON API.

let t: TestApp;
let cast: Cast;

const hostile = '<img src=x onerror=alert(1)>';
const posts = {
  body: {
    title: '<script>alert("title")</script>FEED-BODY',
    content: ['Intro paragraph.', hostile, '<script>alert(2)</script>', '&lt;img src=y onerror=alert(3)&gt;', '[ok](https://example.com/ok)'].join('\n\n'),
  },
  excerpt: { title: 'FEED-EXCERPT', content: 'The body.', excerpt: `${hostile}<script>alert(4)</script>` },
  // Longer than the feed's head of a body: the cut lands inside a raw tag.
  long: { title: 'FEED-LONG', content: `${'Lorem ipsum dolor sit amet. '.repeat(21)}\n\n<img src=z onerror=alert(5)>${'x'.repeat(400)}` },
};

/** XML text → its characters (the five entities and character references, as a reader decodes). */
function decodeXml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(Number(e.slice(1)));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[e];
  });
}

/** Markup that would run script once rendered: a script element, an on* attribute, a javascript: URL. */
function assertInert(html: string, where: string) {
  expect(html, where).not.toMatch(/<script\b/i);
  for (const tag of html.match(/<[a-zA-Z][^>]*>/g) ?? []) {
    expect(tag.replace(/"[^"]*"|'[^']*'/g, '""'), where).not.toMatch(/\son[a-z]+\s*=/i);
    expect(tag, where).not.toMatch(/\s(?:href|src)\s*=\s*["']?\s*javascript:/i);
  }
}

/** title → decoded description of each <item>. */
function feedItems(xml: string): Map<string, { description: string }> {
  const items = new Map<string, { description: string }>();
  for (const [, item] of xml.matchAll(/<item>([\s\S]*?)<\/item>/g)) {
    const title = decodeXml(/<title>([\s\S]*?)<\/title>/.exec(item)![1]);
    items.set(title, { description: decodeXml(/<description>([\s\S]*?)<\/description>/.exec(item)![1]) });
  }
  return items;
}

beforeAll(async () => {
  t = await startTestApp({ posts: 0 });
  cast = await createCast(t);
  for (const post of Object.values(posts)) {
    const res = await t.app.inject({
      method: 'POST', url: '/api/posts', payload: { ...post, status: 'published' },
      headers: { cookie: cast.alice.cookie, 'x-csrf-token': cast.alice.csrf },
    });
    expect(res.statusCode, res.body).toBe(201);
  }
});
afterAll(async () => { await t?.close(); });

describe('feed descriptions', () => {
  it('hold the sanitized HTML of the body: the image stays an image, without its handler; no script', async () => {
    const res = await t.app.inject('/feed.xml');
    expect(res.statusCode).toBe(200);
    assertWellFormedXml(res.body);
    const items = feedItems(res.body);
    const body = items.get(posts.body.title);
    expect(body, 'the title decodes to exactly the author\'s text').toBeDefined();
    assertInert(body!.description, 'body');
    expect(body!.description).toContain('<p>Intro paragraph.</p>');
    expect(body!.description).toMatch(/<img src="x"[^>]*>/);
    expect(body!.description).toContain('<a href="https://example.com/ok" rel="nofollow ugc noopener">ok</a>');
    expect(body!.description).not.toContain('alert(2)');
    // Escaped in the source, so text on the page: it must stay text (never decoded into a tag).
    expect(body!.description).toContain('&lt;img src=y onerror=alert(3)&gt;');
  });

  it('an author\'s excerpt is text, as on the listing pages', async () => {
    const items = feedItems((await t.app.inject('/feed.xml')).body);
    const excerpt = items.get('FEED-EXCERPT')!.description;
    assertInert(excerpt, 'excerpt');
    expect(excerpt).toContain('&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;');
  });

  it('a long body is cut to a head that is still sanitized, with a link to the whole post', async () => {
    const items = feedItems((await t.app.inject('/feed.xml')).body);
    const long = items.get('FEED-LONG')!.description;
    assertInert(long, 'long');
    expect(long).toContain('Lorem ipsum');
    expect(long).not.toContain('x'.repeat(400));
    expect(long).toMatch(/<a href="http:\/\/[^"]+\/posts\/feed-long">/);
  });
});
