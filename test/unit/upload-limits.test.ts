import { UnrecoverableError } from 'bullmq';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../app/config';
import { imageSize, makeThumbnail, megapixels } from '../../app/media/thumbnail';
import { declaredPng } from '../integration/pixel-bomb';

// The pixel cap's pieces without servers: the setting, the header read, the thumbnail decode limit.

const env = { AIDIARY_DB_NODES: 'pg-0@127.0.0.1:5433', AIDIARY_DB_PASSWORD: 'x', AIDIARY_SESSION_SECRET: 'a'.repeat(32) };

describe('AIDIARY_MAX_UPLOAD_PIXELS', () => {
  it('defaults to 40 megapixels and takes a positive integer', () => {
    expect(loadConfig(env).maxUploadPixels).toBe(40_000_000);
    expect(loadConfig({ ...env, AIDIARY_MAX_UPLOAD_PIXELS: '1000000' }).maxUploadPixels).toBe(1_000_000);
  });

  it('refuses a value that is not a positive integer, naming the variable', () => {
    for (const bad of ['0', '-5', '40MP', '1.5']) {
      expect(() => loadConfig({ ...env, AIDIARY_MAX_UPLOAD_PIXELS: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ ...env, AIDIARY_MAX_UPLOAD_PIXELS: bad })).toThrow(/AIDIARY_MAX_UPLOAD_PIXELS/);
    }
  });
});

describe('image size and thumbnails under the cap', () => {
  it('reads the declared size from the header, even far above sharp\'s own default limit', async () => {
    expect(await imageSize(declaredPng(30000, 30000))).toEqual({ width: 30000, height: 30000 });
    expect(megapixels(144_000_000)).toBe('144');
    expect(megapixels(250_000)).toBe('0.25');
  });

  it('a decode above the cap is an UnrecoverableError (no retries); below it a thumbnail is made', async () => {
    await expect(makeThumbnail(declaredPng(9000, 9000, { interlaced: true }), 40_000_000)).rejects.toBeInstanceOf(UnrecoverableError);
    const real = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#3a6' } }).png().toBuffer();
    await expect(makeThumbnail(real, 100_000)).rejects.toBeInstanceOf(UnrecoverableError);
    const thumb = await makeThumbnail(real, 40_000_000);
    expect((await sharp(thumb).metadata()).width).toBe(320);
  });
});
