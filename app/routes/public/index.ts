import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../deps';
import { registerListingRoutes } from './listings';
import { registerSingleRoutes } from './single';
import { registerFeedRoutes } from './feeds';
import { registerStaticRoutes } from './static-files';
import { registerMediaRoutes } from './media';
import { publicContext } from './public-context';

/** The public blog: listings, posts, feeds, static files, media files. See listings.ts / single.ts for URLs. */
export async function registerPublicRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  publicContext(app, deps);
  registerListingRoutes(app, deps);
  registerSingleRoutes(app, deps);
  registerFeedRoutes(app, deps);
  registerStaticRoutes(app);
  registerMediaRoutes(app, deps);
}
