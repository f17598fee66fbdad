import { Marked } from 'marked';
import sanitizeHtml from 'sanitize-html';

// Markdown → safe HTML. marked renders (raw HTML in the source passes through it), then
// sanitize-html keeps an allow-list of tags/attributes/URL schemes, so a post body can never carry
// script, event handlers or javascript: URLs. External links get rel="nofollow ugc noopener".
// Post bodies are rendered when written and stored: changing the output here means bumping
// renderedPostVersion (app/content/rendered-post.ts).

const marked = new Marked({ gfm: true, breaks: false, async: false });

const sanitizeOptions: sanitizeHtml.IOptions = {
  allowedTags: [
    'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'br', 'hr', 'blockquote', 'pre', 'code', 'kbd', 'samp',
    'em', 'strong', 'del', 's', 'sub', 'sup', 'mark', 'small', 'ul', 'ol', 'li', 'dl', 'dt', 'dd',
    'a', 'img', 'table', 'thead', 'tbody', 'tfoot', 'tr', 'th', 'td', 'caption', 'figure', 'figcaption',
    'details', 'summary', 'span', 'div', 'input',
  ],
  allowedAttributes: {
    a: ['href', 'title', 'rel'],
    img: ['src', 'alt', 'title', 'width', 'height', 'loading'],
    code: ['class'],
    th: ['align', 'colspan', 'rowspan'],
    td: ['align', 'colspan', 'rowspan'],
    ol: ['start'],
    input: ['type', 'checked', 'disabled'], // GFM task lists
  },
  allowedClasses: { code: [/^language-[\w+-]+$/] },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: { img: ['http', 'https'] },
  allowProtocolRelative: false,
  disallowedTagsMode: 'discard',
  transformTags: {
    a: (tagName, attribs) => {
      const href = attribs.href ?? '';
      const external = /^https?:\/\//i.test(href);
      return { tagName, attribs: external ? { ...attribs, rel: 'nofollow ugc noopener' } : attribs };
    },
    img: (tagName, attribs) => ({ tagName, attribs: { ...attribs, loading: 'lazy' } }),
    input: (tagName, attribs) => (attribs.type === 'checkbox' ? { tagName, attribs: { type: 'checkbox', disabled: '', ...(attribs.checked !== undefined ? { checked: '' } : {}) } } : { tagName: 'span', attribs: {} }),
  },
};

export function renderMarkdown(source: string): string {
  const html = marked.parse(source ?? '') as string;
  return sanitizeHtml(html, sanitizeOptions);
}

/** Markdown → plain text (for excerpts, feeds, meta descriptions). */
export function markdownToText(source: string): string {
  const html = marked.parse(source ?? '') as string;
  return sanitizeHtml(html, { allowedTags: [], allowedAttributes: {} })
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Text (an author's excerpt) as HTML that shows exactly that text: escaped, in one paragraph. */
export function textToHtml(text: string): string {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  return `<p>${escaped}</p>`;
}
