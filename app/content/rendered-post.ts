import { renderMarkdown } from './markdown';
import { stripMarkdown } from './excerpt';

// A post's body as the public pages show it, computed when the post is written (and by the
// backfill in app/db/backfill-rendered-posts.ts for rows written before), not on every render:
// marked + sanitize-html cost ~80-140 µs per post page and the excerpt's Markdown stripping
// ~10 µs per listing card, each time a page was rendered.
//
// Stored in posts.content_html / content_text with rendered_version. Readers use them only when
// rendered_version equals renderedPostVersion, else they render from the Markdown as before.
// BUMP renderedPostVersion whenever renderMarkdown (markdown.ts) or stripMarkdown (excerpt.ts)
// changes what it outputs: older rows are then rendered per request until `aidiary migrate`
// (which runs the backfill) re-renders them.

export const renderedPostVersion = 1;

/** Characters of the body an excerpt is cut from (the listing query's left(content, 600)). */
export const bodyHeadChars = 600;

export interface RenderedPostBody {
  /** Sanitized HTML of the whole body. */
  html: string;
  /** Plain text of the body's first bodyHeadChars characters (what excerptOf strips per card). */
  text: string;
  version: number;
}

/** The first `chars` code points, as PostgreSQL's left(text, n) counts them. */
export function headOf(content: string, chars = bodyHeadChars): string {
  let cut = 0;
  let count = 0;
  for (const ch of content) {
    if (count === chars) return content.slice(0, cut);
    cut += ch.length;
    count++;
  }
  return content;
}

export function renderPostBody(content: string): RenderedPostBody {
  return { html: renderMarkdown(content), text: stripMarkdown(headOf(content)), version: renderedPostVersion };
}
