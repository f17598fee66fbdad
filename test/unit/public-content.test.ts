import { describe, expect, it } from 'vitest';
import { slugify, slugPath, uniqueSlug, uniqueSlugIn, isReservedSlug, maxSlugLength } from '../../app/content/slug';
import { renderMarkdown, markdownToText } from '../../app/content/markdown';
import { excerptOf, stripMarkdown } from '../../app/content/excerpt';
import { containsPattern } from '../../app/db/queries/public-posts';
import { escapeXml } from '../../app/views/xml';
import { parseDate, parsePage, parseSearchTerm } from '../../app/routes/public/params';
import { pageUrl } from '../../app/views/urls';

describe('slugs', () => {
  it('keep Japanese readable, lower-case ASCII, fold punctuation to single hyphens', () => {
    expect(slugify('東京で珈琲を飲んだ（3）')).toBe('東京で珈琲を飲んだ-3');
    expect(slugify('  Hello, World!! PostgreSQL 15  ')).toBe('hello-world-postgresql-15');
    expect(slugify('ＡＢＣ　ｶﾀｶﾅ')).toBe('abc-カタカナ'); // NFKC: full-width and half-width forms
    expect(slugPath('東京')).toBe('%E6%9D%B1%E4%BA%AC');
  });

  it('avoid reserved words, bare numbers and empty results', () => {
    expect(slugify('Admin')).toBe('admin-post');
    expect(slugify('2025')).toBe('2025-post');
    expect(slugify('!!!')).toBe('post');
    expect(isReservedSlug('search')).toBe(true);
    expect(isReservedSlug('searching')).toBe(false);
  });

  it('are bounded and cut at a separator', () => {
    const s = slugify(`${'word '.repeat(60)}end`);
    expect(Array.from(s).length).toBeLessThanOrEqual(maxSlugLength);
    expect(s.endsWith('-')).toBe(false);
    expect(Array.from(slugify('あ'.repeat(300))).length).toBe(maxSlugLength);
  });

  it('are made unique with -2, -3 …', async () => {
    const taken = new Set(['a', 'a-2']);
    expect(await uniqueSlug('a', (s) => taken.has(s))).toBe('a-3');
    const used = new Set<string>();
    expect(['x', 'x', 'x'].map((b) => uniqueSlugIn(b, used))).toEqual(['x', 'x-2', 'x-3']);
  });
});

describe('markdown', () => {
  it('renders GFM and strips script, handlers and javascript: URLs', () => {
    const html = renderMarkdown('# T\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n| a |\n|---|\n| b |');
    expect(html).toContain('<h1>T</h1>');
    expect(html).toContain('<table>');
    expect(html).not.toMatch(/<script|onerror|javascript:/i);
  });

  it('marks external links nofollow ugc', () => {
    expect(renderMarkdown('[a](https://x.example/)')).toContain('rel="nofollow ugc noopener"');
    expect(renderMarkdown('[a](/posts/b)')).not.toContain('nofollow');
  });

  it('gives plain text for excerpts', () => {
    expect(markdownToText('## Head\n\n**bold** and `code` & <b>tag</b>')).toBe('Head bold and code & tag');
    expect(stripMarkdown('## Head\n\n- **bold** [link](https://x) ![alt](y.png)\n\n```js\ncode()\n```\nafter')).toBe('Head bold link alt after');
    expect(excerptOf('', 'あ'.repeat(200), 10)).toBe(`${'あ'.repeat(10)}…`);
    // Cut on code points: an emoji (two UTF-16 units) is never split; exactly maxChars is kept whole.
    expect(excerptOf('', '😀'.repeat(20), 10)).toBe(`${'😀'.repeat(10)}…`);
    expect(excerptOf('', '😀'.repeat(10), 10)).toBe('😀'.repeat(10));
    expect(excerptOf('', 'ab cd '.repeat(40), 4)).toBe('ab c…');
    expect(excerptOf('  given  excerpt ', 'ignored')).toBe('given excerpt');
  });
});

describe('parameters and helpers', () => {
  it('escape LIKE wildcards', () => {
    expect(containsPattern('100%_a\\b')).toBe('%100\\%\\_a\\\\b%');
  });

  it('escape XML and drop characters XML cannot carry', () => {
    expect(escapeXml(`<a href="x">'&'</a>\u0001`)).toBe('&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
  });

  it('validate page numbers, dates and search terms', () => {
    expect(parsePage('3')).toBe(3);
    expect(() => parsePage('0')).toThrow(/start at 1/);
    expect(() => parsePage('1.5')).toThrow(/positive integer/);
    expect(() => parsePage('10001')).toThrow(/no page/);
    expect(parseDate('2024', '2', '29').from.toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(() => parseDate('2023', '2', '29')).toThrow();
    expect(parseSearchTerm({ s: '  猫  の ' })).toBe('猫 の');
    expect(parseSearchTerm({ s: ['a', 'b'] })).toBe('a');
    expect(parseSearchTerm({ s: '%252F' })).toBe('%252F');
    expect(() => parseSearchTerm({ s: 'x'.repeat(101) })).toThrow(/at most 100/);
  });

  it('build page URLs', () => {
    expect(pageUrl('/', 1)).toBe('/');
    expect(pageUrl('/', 2)).toBe('/page/2');
    expect(pageUrl('/2025/03/', 4)).toBe('/2025/03/page/4');
    expect(pageUrl('/search', 2, '?s=x')).toBe('/search/page/2?s=x');
  });
});
