import type { FeedItem, SitemapEntry } from '../db/queries/public-posts';
import type { SiteSettings } from '../db/queries/site-settings';
import { excerptOf } from '../content/excerpt';
import { urls } from './urls';

// RSS 2.0 and sitemap.xml. Five entities escape any text; characters XML 1.0 forbids (C0 controls
// other than tab/newline/CR, lone surrogates, U+FFFE/U+FFFF) are dropped so the document stays
// well-formed whatever a post contains.

export function escapeXml(value: string): string {
  return value
    .replace(/[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
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
      `<description>${escapeXml(excerptOf(item.excerpt, item.contentHead, 300))}</description>`,
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
