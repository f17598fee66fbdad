import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';

// One full-page PNG per main screen, written by every run into test-output/screenshots/ (git-ignored)
// so a person can look at what the browser saw.

export const screenshotDir = fileURLToPath(new URL('../../../test-output/screenshots/', import.meta.url));

/** Empties the folder, so a screenshot that exists after the run was written by this run. */
export function resetScreenshots(): void {
  rmSync(screenshotDir, { recursive: true, force: true });
  mkdirSync(screenshotDir, { recursive: true });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const path = `${screenshotDir}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Size and pixel dimensions of a PNG file (from its IHDR chunk); throws when it is not a PNG. */
export function pngInfo(path: string): { bytes: number; width: number; height: number } {
  const bytes = statSync(path).size;
  const head = readFileSync(path).subarray(0, 24);
  if (head.length < 24 || !head.subarray(0, 8).equals(pngSignature) || head.toString('latin1', 12, 16) !== 'IHDR') {
    throw new Error(`${path} is not a PNG file`);
  }
  return { bytes, width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
}
