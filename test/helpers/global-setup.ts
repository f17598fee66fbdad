// Runs once before the suite: make sure the system binaries exist and dist/ is fresh (e2e tests
// start the production build of the app and CLI, not tsx).
export default async function setup(): Promise<void> {
  // @ts-expect-error plain JS helper without types
  const { ensureSystem } = await import('../../scripts/ensure-system.mjs');
  ensureSystem({ quiet: true });
  // @ts-expect-error plain JS helper without types
  const { buildAll } = await import('../../scripts/build.mjs');
  await buildAll();
}
