// Response headers every answer carries (HTML pages above all, whether rendered, from L1/L2 or
// from nginx's micro-cache, which stores them with the page): browsers must not guess a type
// other than the one sent (an upload or a JSON answer read as HTML), and a link followed off
// the site sends the origin only, never the path (admin URLs, search terms).
// Set in server.ts's first onRequest hook, so error pages and cache hits get them too.
//
// Content-Security-Policy: scripts only from this origin's files (/static/admin/editor.js,
// /static/admin/media.js; no inline script or event handler anywhere in the views), so an
// injected <script> or onerror= in a post never runs. Styles allow inline (the admin's style
// attributes and <style> block; CSS cannot run script in current browsers). Images may come from
// any https origin (posts link external images; the sanitizer allows http/https img src) and data:.
// The editor's preview is fetched from /api/preview (connect-src 'self') and inserted as sanitized
// HTML, which the policy also covers. No framing (clickjacking), no plugins, no <base> hijack,
// forms post to this origin only.

export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: https: http:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const securityHeaders: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'strict-origin-when-cross-origin',
  'Content-Security-Policy': contentSecurityPolicy,
};
