import type { Locator } from 'playwright-core';

/**
 * naturalWidth of every <img> inside `scope`, after each has finished loading (or failed):
 * 0 means the browser could not load or decode it. Waits for at least one image to appear.
 */
export async function loadedImageWidths(scope: Locator): Promise<number[]> {
  const images = scope.getByRole('img');
  await images.first().waitFor();
  return images.evaluateAll(async (imgs) => Promise.all(imgs.map(async (img) => {
    const el = img as HTMLImageElement;
    await el.decode().catch(() => {}); // rejects for a broken image; naturalWidth stays 0 then
    return el.naturalWidth;
  })));
}
