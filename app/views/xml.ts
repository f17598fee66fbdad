import type { FeedItem, SitemapEntry } from '../db/queries/public-posts';
import type { SiteSettings } from '../db/queries/site-settings';
import { renderMarkdown, textToHtml } from '../content/markdown';
import { urls } from './urls';

// RSS 2.0 and sitemap.xml. Five entities escape any text; characters XML 1.0 forbids (C0 controls
// other than tab/newline/CR, lone surrogates, U+FFFE/U+FFFF) are dropped so the document stays
// well-formed whatever a post contains.
//
// Feed readers render <description> as HTML: it holds the HTML the pages show, from the same
// Markdown renderer and sanitizer (app/content/markdown.ts), escaped once for XML, so a reader
// that decodes it gets sanitized HTML and never an author's raw markup. An author's excerpt is
// text on the pages, so it is text here too (escaped as HTML, then for XML). Titles are text.

export function escapeXml(value: string): string {
  return value
    .replace(/[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * Where a body longer than the feed's head is cut: the last paragraph break, else the last space,
 * if either leaves at least a third of the head (a cut inside a Markdown construct is harmless:
 * the result is rendered and sanitized like any body).
 */
function cutHead(head: string): string {
  const min = Math.floor(head.length / 3);
  const paragraph = head.lastIndexOf('\n\n');
  if (paragraph >= min) return head.slice(0, paragraph);
  const space = head.search(/\s\S*$/);
  return space >= min ? head.slice(0, space) : head;
}

/** A feed item's <description> as HTML (escaped for XML by the caller). */
export function descriptionHtml(item: FeedItem, link: string): string {
  if (item.excerpt.trim()) return textToHtml(item.excerpt.replace(/\s+/g, ' ').trim());
  if (!item.contentCut) return renderMarkdown(item.contentHead);
  return `${renderMarkdown(cutHead(item.contentHead))}\n<p><a href="${escapeXml(link)}">続きを読む / Read more</a></p>`;
}

/** Absolute URLs need the public origin; it comes from the request (Host / X-Forwarded-*). */
export function renderRss(site: SiteSettings, origin: string, items: FeedItem[]): string {
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">',
    '<channel>',
    `<title>${escapeXml(site.title)}</title>`,
    `<link>${escapeXml(`${origin}/`)}</link>`,
    `<description>${escapeXml(site.description)}</description>`,
    '<language>ja</language>',
    `<atom:link href="${escapeXml(`${origin}${urls.feed()}`)}" rel="self" type="application/rss+xml"/>`,
  ];
  if (items[0]) lines.push(`<lastBuildDate>${items[0].publishedAt.toUTCString()}</lastBuildDate>`);
  for (const item of items) {
    const link = `${origin}${urls.post(item.slug)}`;
    lines.push(
      '<item>',
      `<title>${escapeXml(item.title)}</title>`,
      `<link>${escapeXml(link)}</link>`,
      `<guid isPermaLink="true">${escapeXml(link)}</guid>`,
      `<pubDate>${item.publishedAt.toUTCString()}</pubDate>`,
      `<dc:creator xmlns:dc="http://purl.org/dc/elements/1.1/">${escapeXml(item.author)}</dc:creator>`,
      ...item.categories.map((c) => `<category>${escapeXml(c)}</category>`),
      `<description>${escapeXml(descriptionHtml(item, link))}</description>`,
      '</item>',
    );
  }
  lines.push('</channel>', '</rss>', '');
  return lines.join('\n');
}

export function renderSitemap(origin: string, entries: SitemapEntry[]): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'];
  lines.push(`<url><loc>${escapeXml(`${origin}/`)}</loc>${entries[0] ? `<lastmod>${entries[0].updatedAt.toISOString()}</lastmod>` : ''}</url>`);
  for (const e of entries) {
    lines.push(`<url><loc>${escapeXml(`${origin}${urls.post(e.slug)}`)}</loc><lastmod>${e.updatedAt.toISOString()}</lastmod></url>`);
  }
  lines.push('</urlset>', '');
  return lines.join('\n');
}
