import { markdownToText } from './markdown';

// A listing shows the author's excerpt when there is one, else the start of the body as text.
// Cut on a code-point boundary so a Japanese character is never split.
export function excerptOf(excerpt: string, contentHead: string, maxChars = 160): string {
  const text = (excerpt.trim() ? excerpt.replace(/\s+/g, ' ').trim() : markdownToText(contentHead));
  const chars = Array.from(text);
  return chars.length <= maxChars ? text : `${chars.slice(0, maxChars).join('').trimEnd()}…`;
}
