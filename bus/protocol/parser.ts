/**
 * Resumable frame parser: feed it chunks of any size, it calls back once per complete frame body.
 * A frame wholly inside a chunk is passed as a zero-copy view; a split frame is assembled from the
 * pieces only once complete, so a peer that announces a large frame and trickles it in holds no
 * more broker memory than it has actually sent.
 */
import { Buffer } from 'node:buffer';
export type ParseError = { code: 'FRAME_TOO_LARGE' | 'BAD_FRAME'; text: string };

export class FrameParser {
  private header = Buffer.alloc(4);
  private headerLen = 0;
  private need = 0; // body bytes still missing for the current split frame; 0 = reading a header
  private parts: Buffer[] = [];
  private partsLen = 0;
  private stopped = false;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly onFrame: (body: Buffer) => void,
    private readonly onError: (err: ParseError) => void,
    /**
     * Instead of onFrame: the frame as `buf[start..end)`, so a frame wholly inside a chunk costs
     * no view object (the client's receive path reads it in place).
     */
    private readonly onFrameAt?: (buf: Buffer, start: number, end: number) => void,
  ) {}

  /** Bytes of an incomplete frame held right now (header included). */
  get pendingBytes(): number {
    return this.headerLen + this.partsLen;
  }

  /**
   * True while a frame has begun and not ended: part of its header, or its header and none or some
   * of its body. The frame deadline runs while this holds.
   */
  get midFrame(): boolean {
    return this.headerLen > 0 || this.need > 0;
  }

  /** Stops parsing: later chunks, and the rest of the current one, are ignored. */
  stop(): void {
    this.stopped = true;
    this.parts = [];
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n && !this.stopped) {
      if (this.need > 0) {
        const take = Math.min(this.need, n - pos);
        this.parts.push(chunk.subarray(pos, pos + take));
        this.partsLen += take;
        this.need -= take;
        pos += take;
        if (this.need === 0) {
          const body = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partsLen);
          this.parts = [];
          this.partsLen = 0;
          if (this.onFrameAt !== undefined) this.onFrameAt(body, 0, body.length);
          else this.onFrame(body);
        }
        continue;
      }
      let len: number;
      if (this.headerLen === 0 && n - pos >= 4) {
        // By hand: readUInt32BE's checks cost more than the read, once per frame.
        len = chunk[pos]! * 0x1000000 + ((chunk[pos + 1]! << 16) | (chunk[pos + 2]! << 8) | chunk[pos + 3]!);
        pos += 4;
      } else {
        while (this.headerLen < 4 && pos < n) this.header[this.headerLen++] = chunk[pos++]!;
        if (this.headerLen < 4) return;
        len = this.header.readUInt32BE(0);
        this.headerLen = 0;
      }
      if (len === 0) {
        this.stopped = true;
        this.onError({ code: 'BAD_FRAME', text: 'frame length 0: a frame holds exactly one CBOR item' });
        return;
      }
      if (len > this.maxFrameBytes) {
        this.stopped = true;
        this.onError({ code: 'FRAME_TOO_LARGE', text: `frame of ${len} bytes exceeds maxFrameBytes ${this.maxFrameBytes}` });
        return;
      }
      if (n - pos >= len) {
        const start = pos;
        pos += len;
        if (this.onFrameAt !== undefined) this.onFrameAt(chunk, start, pos);
        else this.onFrame(chunk.subarray(start, pos));
      } else {
        this.need = len;
      }
    }
  }
}
