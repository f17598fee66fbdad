import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../deps';
import { SiteSettingsStore } from '../../db/queries/site-settings';
import { loadTheme, type Theme } from '../../views/theme';

// What every public page (and the themed 404/error pages of server.ts) shares in one process:
// the compiled theme and the site settings. Made once per deps and released with the app.

export interface PublicContext {
  theme: Theme;
  settings: SiteSettingsStore;
}

const contexts = new WeakMap<AppDeps, PublicContext>();

export function publicContext(app: FastifyInstance, deps: AppDeps): PublicContext {
  let ctx = contexts.get(deps);
  if (!ctx) {
    const created: PublicContext = { theme: loadTheme('default'), settings: new SiteSettingsStore(deps.db, deps.logger, deps.config.siteUrl) };
    ctx = created;
    contexts.set(deps, created);
    // First load before the app is ready; then the background version probe.
    app.addHook('onReady', async () => {
      await created.settings.refresh();
      created.settings.start();
    });
    app.addHook('onClose', async () => created.settings.stop());
  }
  return ctx;
}
