// `?redirect=` after login: only a same-site path under /admin (LuaAIDiary redirected anywhere).
// Rejects absolute and protocol-relative URLs, backslashes (browsers read `/\evil` as `//evil`),
// control characters, and anything that resolves outside /admin.

export const defaultAdminPath = '/admin/dashboard';

export function safeAdminRedirect(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 500) return defaultAdminPath;
  if (!value.startsWith('/admin') || value.startsWith('//') || /[\\\u0000-\u001f\u007f]/.test(value)) return defaultAdminPath;
  let url: URL;
  try {
    url = new URL(value, 'http://same.invalid');
  } catch {
    return defaultAdminPath;
  }
  if (url.origin !== 'http://same.invalid') return defaultAdminPath;
  if (url.pathname !== '/admin' && !url.pathname.startsWith('/admin/')) return defaultAdminPath;
  if (url.pathname.startsWith('/admin/login') || url.pathname.startsWith('/admin/logout')) return defaultAdminPath;
  return `${url.pathname}${url.search}`;
}
