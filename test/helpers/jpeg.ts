/**
 * Valid baseline JPEGs of a chosen size without an encoder: mid-grey, 8 px high, `8 * blocks` px
 * wide (one component, every block DC difference 0 then end-of-block, each a one-bit code). A
 * browser decodes them, so a test can tell two snapshots apart by naturalWidth.
 */
const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];

export function greyJpeg(blocks: number): Buffer {
  const bits16 = [1, ...new Array<number>(15).fill(0)];
  const scanBits = 2 * blocks;
  const scan = new Array<number>(Math.ceil(scanBits / 8)).fill(0);
  // Pad the last byte with ones (never a whole 0xff byte: at least one data bit is 0).
  const pad = scan.length * 8 - scanBits;
  if (pad > 0) scan[scan.length - 1] = (1 << pad) - 1;
  return Buffer.from([
    0xff, 0xd8, // SOI
    0xff, 0xdb, ...u16(67), 0x00, ...new Array<number>(64).fill(1), // DQT
    0xff, 0xc0, ...u16(11), 8, ...u16(8), ...u16(8 * blocks), 1, 1, 0x11, 0, // SOF0: 8 high, 8*blocks wide
    0xff, 0xc4, ...u16(20), 0x00, ...bits16, 0x00, // DHT DC0
    0xff, 0xc4, ...u16(20), 0x10, ...bits16, 0x00, // DHT AC0
    0xff, 0xda, ...u16(8), 1, 1, 0x00, 0, 63, 0, // SOS
    ...scan,
    0xff, 0xd9, // EOI
  ]);
}
