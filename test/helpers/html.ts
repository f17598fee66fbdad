// Small readers of the public HTML/XML for tests (the markup is ours, so regexes are enough).

/** Slugs of the post cards on a listing page, in order. */
export function listedSlugs(html: string): string[] {
  return [...html.matchAll(/<h2 class="post-title"><a href="\/posts\/([^"]+)">/g)].map((m) => decodeURIComponent(m[1]));
}

/** `P / N` of the pagination nav, or null when there is a single page. */
export function pageNumbers(html: string): { page: number; total: number } | null {
  const m = /<span class="page-number">(\d+) \/ (\d+)<\/span>/.exec(html);
  return m ? { page: Number(m[1]), total: Number(m[2]) } : null;
}

/**
 * XML well-formedness for our feed/sitemap: balanced, properly nested elements, quoted attributes,
 * only the five predefined entities or character references, no stray `<`/`&` in text, and one
 * root. Hand-rolled because no XML parser is a dependency; it rejects anything it does not know.
 */
export function assertWellFormedXml(xml: string): void {
  let rest = xml.replace(/^<\?xml [^?]*\?>\s*/, '');
  const stack: string[] = [];
  let roots = 0;
  const entity = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/y;
  const checkText = (text: string) => {
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '<') throw new Error(`stray < in text near "${text.slice(i, i + 30)}"`);
      if (text[i] === '&') {
        entity.lastIndex = i;
        if (!entity.test(text)) throw new Error(`bad entity near "${text.slice(i, i + 30)}"`);
      }
    }
  };
  while (rest.length) {
    const lt = rest.indexOf('<');
    const text = lt < 0 ? rest : rest.slice(0, lt);
    if (stack.length === 0 && text.trim()) throw new Error(`text outside the root: "${text.slice(0, 30)}"`);
    checkText(text);
    if (lt < 0) break;
    rest = rest.slice(lt);
    const m = /^<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/.exec(rest);
    if (!m) throw new Error(`malformed tag near "${rest.slice(0, 40)}"`);
    const [whole, closing, name, attrs, selfClosing] = m;
    for (const a of attrs.matchAll(/=\s*(?:"([^"]*)"|'([^']*)')/g)) checkText(a[1] ?? a[2] ?? '');
    if (closing) {
      if (stack.pop() !== name) throw new Error(`mismatched </${name}>`);
    } else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
    rest = rest.slice(whole.length);
  }
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}>`);
  if (roots !== 1) throw new Error(`expected one root element, found ${roots}`);
}
