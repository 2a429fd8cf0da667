import { FRAME_HEADER_BYTES } from './constants.js'

/**
 * Length-prefixed framing: a 4-byte unsigned big-endian body length, then the body. A fixed-width
 * prefix (not lpStream's varint) lets the decoder read a header in one step and lets the TCP
 * baseline of bench/rpc.ts use the very same framing.
 */
export function frameHeader (bodyBytes: number): Uint8Array {
  const header = new Uint8Array(FRAME_HEADER_BYTES)
  header[0] = bodyBytes >>> 24
  header[1] = (bodyBytes >>> 16) & 0xff
  header[2] = (bodyBytes >>> 8) & 0xff
  header[3] = bodyBytes & 0xff
  return header
}

export interface FrameOversized {
  readonly bodyBytes: number
}

/**
 * Cuts a byte stream into frames. It buffers at most one frame (header + `frameBytesMax`); a
 * header announcing more is reported before a single body byte is buffered, so a peer cannot
 * make it hold more memory than that.
 */
export class FrameDecoder {
  private readonly frameBytesMax: number
  private chunks: Uint8Array[] = []
  private bufferedBytes = 0
  /** Body length of the frame being read, or -1 while its header is incomplete. */
  private bodyBytes = -1

  constructor (frameBytesMax: number) {
    this.frameBytesMax = frameBytesMax
  }

  /** True when bytes of an unfinished frame are buffered (the stream ended mid-frame). */
  get partial (): boolean {
    return this.bufferedBytes > 0 || this.bodyBytes >= 0
  }

  /**
   * Adds bytes and hands every complete frame to `onFrame`, in order. Stops early when `onFrame`
   * returns false (the stream is being closed). Returns the oversized header it met, if any;
   * the decoder is unusable after that.
   */
  push (data: Uint8Array | Iterable<Uint8Array>, onFrame: (body: Uint8Array) => boolean): FrameOversized | undefined {
    if (data instanceof Uint8Array) {
      this.append(data)
    } else {
      for (const chunk of data) this.append(chunk)
    }
    while (true) {
      if (this.bodyBytes < 0) {
        if (this.bufferedBytes < FRAME_HEADER_BYTES) return undefined
        const header = this.take(FRAME_HEADER_BYTES)
        const bodyBytes = ((header[0]! << 24) >>> 0) + (header[1]! << 16) + (header[2]! << 8) + header[3]!
        if (bodyBytes > this.frameBytesMax) {
          this.chunks = []
          this.bufferedBytes = 0
          return { bodyBytes }
        }
        this.bodyBytes = bodyBytes
      }
      if (this.bufferedBytes < this.bodyBytes) return undefined
      const body = this.take(this.bodyBytes)
      this.bodyBytes = -1
      if (!onFrame(body)) return undefined
    }
  }

  private append (chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    this.chunks.push(chunk)
    this.bufferedBytes += chunk.byteLength
  }

  /** Removes `n` buffered bytes; a view into the first chunk when it holds them all (no copy). */
  private take (n: number): Uint8Array {
    this.bufferedBytes -= n
    const first = this.chunks[0]
    if (n === 0) return new Uint8Array(0)
    if (first !== undefined && first.byteLength >= n) {
      if (first.byteLength === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
      return first.subarray(0, n)
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const chunk = this.chunks[0]!
      const need = n - filled
      if (chunk.byteLength <= need) {
        out.set(chunk, filled)
        filled += chunk.byteLength
        this.chunks.shift()
      } else {
        out.set(chunk.subarray(0, need), filled)
        this.chunks[0] = chunk.subarray(need)
        filled = n
      }
    }
    return out
  }
}
