import { crc32, deflateSync } from 'node:zlib';

// A "pixel bomb": a PNG of ~100 bytes whose header declares width × height pixels. Its IHDR is
// well-formed (correct CRC, so header readers trust it) and its IDAT is a few compressed bytes:
// anything that reads the header sees a huge image; only a decode would find the data missing.
// Written by hand because an encoder would have to produce the pixels.

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

export function declaredPng(width: number, height: number, opts: { interlaced?: boolean } = {}): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering
  ihdr[12] = opts.interlaced ? 1 : 0; // Adam7: a decoder must hold the whole image
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(64))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
