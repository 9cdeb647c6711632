// MLLP framing (HL7 v2.5.1 Appendix C, MLLP release 2): <VT> message <FS><CR>. A streaming
// decoder over a socket's chunks: frames may be split across chunks or several may arrive in
// one; bytes outside a frame are dropped; a frame longer than the limit is an error.

export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;

export type FrameEvent = { kind: 'frame'; payload: Buffer } | { kind: 'oversize' } | { kind: 'garbage'; bytes: number };

export class MllpDecoder {
  private parts: Buffer[] = [];
  private size = 0;
  private inFrame = false;
  /** The previous chunk ended with FS inside a frame; the CR may start the next chunk. */
  private pendingFs = false;
  /** Skipping the rest of an oversize frame, up to its end. */
  private skipping = false;

  constructor(private readonly maxFrameBytes: number) {}

  /** Feeds a chunk; returns what it completed, in order. */
  push(chunk: Buffer): FrameEvent[] {
    const out: FrameEvent[] = [];
    let i = 0;
    let garbage = 0;
    while (i < chunk.length) {
      if (this.pendingFs) {
        this.pendingFs = false;
        if (chunk[i] === CR) {
          i++;
          this.finish(out);
          continue;
        }
        this.append(Buffer.from([FS]), out); // a lone FS inside the message: keep it
      }
      if (!this.inFrame && !this.skipping) {
        const start = chunk.indexOf(VT, i);
        if (start < 0) {
          garbage += chunk.length - i;
          break;
        }
        garbage += start - i;
        i = start + 1;
        this.inFrame = true;
        this.parts = [];
        this.size = 0;
        continue;
      }
      const fs = chunk.indexOf(FS, i);
      const end = fs < 0 ? chunk.length : fs;
      if (this.skipping) {
        // Resynchronise on the next end of frame, discarding without buffering.
        if (fs < 0) break;
        if (fs + 1 >= chunk.length) {
          this.skipping = false; // FS at the end of a chunk: taken as the end (a CR after it is dropped)
          break;
        }
        if (chunk[fs + 1] !== CR) {
          i = fs + 1;
          continue;
        }
        this.skipping = false;
        i = fs + 2;
        continue;
      }
      // A VT inside a frame starts a new frame: the previous one never ended.
      const vt = chunk.indexOf(VT, i);
      if (vt >= 0 && vt < end) {
        garbage += this.size + (vt - i);
        this.parts = [];
        this.size = 0;
        i = vt + 1;
        continue;
      }
      this.append(chunk.subarray(i, end), out);
      if (!this.inFrame) {
        // Became oversize: skip to the end of this frame.
        i = end;
        this.skipping = true;
        continue;
      }
      if (fs < 0) break;
      if (fs + 1 >= chunk.length) {
        this.pendingFs = true;
        break;
      }
      if (chunk[fs + 1] === CR) {
        i = fs + 2;
        this.finish(out);
      } else {
        this.append(chunk.subarray(fs, fs + 1), out);
        i = fs + 1;
      }
    }
    if (garbage > 0) out.push({ kind: 'garbage', bytes: garbage });
    return out;
  }

  /** Bytes held for an unfinished frame. */
  get buffered(): number {
    return this.size;
  }

  private append(b: Buffer, out: FrameEvent[]): void {
    if (!this.inFrame) return;
    if (this.size + b.length > this.maxFrameBytes) {
      this.parts = [];
      this.size = 0;
      this.inFrame = false;
      out.push({ kind: 'oversize' });
      return;
    }
    if (b.length) {
      this.parts.push(Buffer.from(b)); // a copy: the socket's chunk is not ours to keep
      this.size += b.length;
    }
  }

  private finish(out: FrameEvent[]): void {
    if (this.inFrame) out.push({ kind: 'frame', payload: Buffer.concat(this.parts, this.size) });
    this.inFrame = false;
    this.parts = [];
    this.size = 0;
  }
}

/** Wraps a message in an MLLP frame. */
export function frame(message: string | Buffer): Buffer {
  const body = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  return Buffer.concat([Buffer.from([VT]), body, Buffer.from([FS, CR])]);
}
