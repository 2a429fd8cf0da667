import type { Stream } from '@libp2p/interface'
import { FRAME_HEADER_BYTES, WRITE_BATCH_BYTES_MAX } from './constants.js'

/**
 * A bound shared by every writer of one peer (or one inbound stream): frames and bytes accepted
 * but not yet handed to the muxer. Once the muxer has the bytes they are bounded by its own
 * window, because the writer sends nothing more until the stream emits 'drain'.
 */
export interface QueueBudget {
  readonly framesMax: number
  readonly bytesMax: number
  frames: number
  bytes: number
}

export function queueBudget (framesMax: number, bytesMax: number): QueueBudget {
  return { framesMax, bytesMax, frames: 0, bytes: 0 }
}

/**
 * Writes length-prefixed frames to one stream, coalescing the frames queued within a tick into one
 * write. Backpressure follows the notes' advice: when `send()` returns false the writer stops and
 * waits for the next 'drain' event, registered afresh each time (a cached `onDrain()` promise
 * resolves only once and silently loses backpressure after the first drain).
 */
export class FrameWriter {
  private readonly budget: QueueBudget
  private bodies: Array<Uint8Array | undefined> = []
  private head = 0
  private ownBytes = 0
  private stream: Stream | undefined
  private scheduled = false
  private waitingDrain = false

  constructor (budget: QueueBudget) {
    this.budget = budget
  }

  get queuedFrames (): number {
    return this.bodies.length - this.head
  }

  get queuedBytes (): number {
    return this.ownBytes
  }

  /** Queues one frame; false (nothing queued) when the shared budget is exhausted. */
  enqueue (body: Uint8Array): boolean {
    const bytes = body.byteLength + FRAME_HEADER_BYTES
    const b = this.budget
    if (b.frames >= b.framesMax || b.bytes + bytes > b.bytesMax) return false
    b.frames++
    b.bytes += bytes
    this.ownBytes += bytes
    this.bodies.push(body)
    this.schedule()
    return true
  }

  attach (stream: Stream): void {
    this.stream = stream
    this.waitingDrain = false
    this.schedule()
  }

  /** Forgets the stream and drops what is queued; returns how many frames were dropped. */
  detach (): number {
    const dropped = this.queuedFrames
    this.stream?.removeEventListener('drain', this.onDrain)
    this.stream = undefined
    this.budget.frames -= dropped
    this.budget.bytes -= this.ownBytes
    this.ownBytes = 0
    this.bodies = []
    this.head = 0
    this.waitingDrain = false
    return dropped
  }

  private schedule (): void {
    if (this.scheduled || this.stream === undefined || this.waitingDrain) return
    this.scheduled = true
    queueMicrotask(this.flush)
  }

  private readonly onDrain = (): void => {
    this.waitingDrain = false
    this.schedule()
  }

  private readonly flush = (): void => {
    this.scheduled = false
    const stream = this.stream
    if (stream === undefined || this.waitingDrain) return
    while (this.head < this.bodies.length) {
      if (stream.writeStatus !== 'writable') return // the stream's close handler cleans up
      const chunk = this.takeBatch()
      let ready: boolean
      try {
        ready = stream.send(chunk)
      } catch (err) {
        stream.abort(err instanceof Error ? err : new Error(String(err)))
        return
      }
      if (!ready) {
        this.waitingDrain = true
        stream.addEventListener('drain', this.onDrain, { once: true })
        return
      }
    }
  }

  /** Removes a batch of frames from the queue and returns their bytes, headers included. */
  private takeBatch (): Uint8Array {
    let end = this.head
    let total = 0
    while (end < this.bodies.length) {
      const bytes = this.bodies[end]!.byteLength + FRAME_HEADER_BYTES
      if (end > this.head && total + bytes > WRITE_BATCH_BYTES_MAX) break
      total += bytes
      end++
    }
    const out = Buffer.allocUnsafe(total)
    let offset = 0
    for (let i = this.head; i < end; i++) {
      const body = this.bodies[i]!
      out.writeUInt32BE(body.byteLength, offset)
      out.set(body, offset + FRAME_HEADER_BYTES)
      offset += body.byteLength + FRAME_HEADER_BYTES
    }
    this.release(end - this.head, total)
    return out
  }

  private release (frames: number, bytes: number): void {
    for (let i = this.head; i < this.head + frames; i++) this.bodies[i] = undefined
    this.head += frames
    if (this.head === this.bodies.length) {
      this.bodies = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.bodies.length) {
      this.bodies = this.bodies.slice(this.head)
      this.head = 0
    }
    this.budget.frames -= frames
    this.budget.bytes -= bytes
    this.ownBytes -= bytes
  }
}
