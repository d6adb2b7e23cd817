/**
 * The snapshot image: an 8x8 mid-grey baseline JPEG assembled by hand (no encoder needed). One
 * block, DC difference 0 and an immediate end-of-block, each coded by a one-entry Huffman table.
 */
const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];

function buildJpeg(): Buffer {
  const bits16 = [1, ...new Array<number>(15).fill(0)];
  return Buffer.from([
    0xff, 0xd8, // SOI
    0xff, 0xdb, ...u16(67), 0x00, ...new Array<number>(64).fill(1), // DQT: table 0, all ones
    0xff, 0xc0, ...u16(11), 8, ...u16(8), ...u16(8), 1, 1, 0x11, 0, // SOF0: 8x8, one component
    0xff, 0xc4, ...u16(20), 0x00, ...bits16, 0x00, // DHT DC0: one 1-bit code for category 0
    0xff, 0xc4, ...u16(20), 0x10, ...bits16, 0x00, // DHT AC0: one 1-bit code for EOB
    0xff, 0xda, ...u16(8), 1, 1, 0x00, 0, 63, 0, // SOS
    0x3f, // '0' (DC cat 0) '0' (EOB), padded with ones
    0xff, 0xd9, // EOI
  ]);
}

export const SNAPSHOT_JPEG: Buffer = buildJpeg();
