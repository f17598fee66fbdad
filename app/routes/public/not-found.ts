import type { SiteSettings } from '../../db/queries/site-settings';
import type { Theme } from '../../views/theme';
import { templateCandidates } from '../../views/theme';
import { viewData } from '../../views/view-model';
import type { PageOutput } from './serve-page';

// The themed 404 and error pages (also used by server.ts for unmatched routes and errors).

export function notFoundOutput(theme: Theme, site: SiteSettings, message = 'Not found.'): PageOutput {
  const data = viewData(site, { kind: 'error', canonical: '', heading: 'ページが見つかりません / Page not found', noindex: true }, { error: { status: 404, message } });
  return { status: 404, body: theme.render(templateCandidates.notFound(), data) };
}

export function errorOutput(theme: Theme, site: SiteSettings, status: number, heading: string, message: string): PageOutput {
  if (status === 404) return notFoundOutput(theme, site, message);
  const data = viewData(site, { kind: 'error', canonical: '', heading, noindex: true }, { error: { status, message } });
  return { status, body: theme.render(templateCandidates.error(), data) };
}
