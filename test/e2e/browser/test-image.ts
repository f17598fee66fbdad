import type { Browser } from 'playwright-core';

// A real PNG to upload, drawn by the browser itself (no fixture file, no image library): a
// width×height screenshot of a coloured box with a caption.

export async function drawPng(browser: Browser, width: number, height: number, caption: string): Promise<Buffer> {
  const page = await browser.newPage({ viewport: { width, height } });
  try {
    await page.setContent(`<body style="margin:0"><div style="width:${width}px;height:${height}px;background:linear-gradient(135deg,#2d6cdf,#f0a030);color:#fff;font:bold 28px sans-serif;display:flex;align-items:center;justify-content:center">${caption}</div></body>`);
    return await page.screenshot({ type: 'png', clip: { x: 0, y: 0, width, height } });
  } finally {
    await page.close();
  }
}
