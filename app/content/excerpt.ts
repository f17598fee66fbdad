// A listing shows the author's excerpt when there is one, else the start of the body as text.
// The body's Markdown is stripped with a few regexes rather than rendered: a full marked +
// sanitize-html pass per card cost ~0.5 ms × 10 cards per listing render, and an excerpt only
// needs readable text (it is HTML-escaped on output like any text, so nothing here is trusted).
// Cut on a code-point boundary so a Japanese character is never split.
// Changing stripMarkdown's output: bump renderedPostVersion (app/content/rendered-post.ts).

export function stripMarkdown(source: string): string {
  return source
    .replace(/```[\s\S]*?(```|$)/g, ' ')          // fenced code blocks (or an unterminated tail)
    .replace(/`([^`]*)`/g, '$1')                  // inline code
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')     // images → alt text
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')      // links → their text
    .replace(/<[^>]*>/g, ' ')                     // raw HTML tags
    .replace(/^\s{0,3}(#{1,6}|>|[-*+]|\d+\.)\s+/gm, '') // headings, quotes, list markers
    .replace(/(\*\*|__|\*|_|~~)(?=\S)([^*_~]+?)\1/g, '$2') // emphasis
    .replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] ?? '')
    .replace(/\s+/g, ' ')
    .trim();
}

export function excerptOf(excerpt: string, contentHead: string, maxChars = 160): string {
  return excerptFromText(excerpt, null, contentHead, maxChars);
}

/**
 * The same excerpt when the body's plain text was stored at write time (`bodyText`,
 * app/content/rendered-post.ts): no Markdown stripping per card. Null: strip `contentHead`.
 */
export function excerptFromText(excerpt: string, bodyText: string | null, contentHead: string, maxChars = 160): string {
  const text = excerpt.trim() ? excerpt.replace(/\s+/g, ' ').trim() : bodyText ?? stripMarkdown(contentHead);
  // Walk code points only up to the cut (an Array.from of every card's whole text was most of
  // this function's cost on a listing render).
  let cut = 0;
  let count = 0;
  for (const ch of text) {
    if (count === maxChars) return `${text.slice(0, cut).trimEnd()}…`;
    cut += ch.length;
    count++;
  }
  return text;
}
