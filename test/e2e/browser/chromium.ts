import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

// The browser tests drive Debian's Chromium (apt package `chromium`), not a Playwright-downloaded
// build: npm and apt are the only download sources. `npm test` installs it through
// `node scripts/ensure-system.mjs --with-test-tools`; a run without it fails (never skips).

export const systemChromiumPath = '/usr/bin/chromium';

export async function launchSystemChromium(executablePath = systemChromiumPath): Promise<Browser> {
  if (!existsSync(executablePath)) {
    throw new Error(
      `The browser tests need Chromium at ${executablePath}. Install it with:\n` +
      '  sudo apt-get update && sudo apt-get install -y chromium\n' +
      '(or run `node scripts/ensure-system.mjs --with-test-tools` as root, as `npm test` does).',
    );
  }
  // --no-sandbox: CI runs as root, where Chromium refuses to start with its sandbox on.
  return chromium.launch({ executablePath, args: ['--no-sandbox'] });
}
