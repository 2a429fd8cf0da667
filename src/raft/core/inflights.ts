import { invariant } from './assert.js'

/**
 * The append messages sent to one follower and not yet acknowledged, as (last index, bytes) in
 * sending order. Bounded in count and bytes: this is the per-follower flow-control window.
 */
export class Inflights {
  readonly countMax: number
  readonly bytesMax: number
  private readonly indexes: number[]
  private readonly sizes: number[]
  private start = 0
  private n = 0
  bytes = 0

  constructor (countMax: number, bytesMax: number) {
    invariant(countMax > 0 && bytesMax > 0, 'inflight limits must be positive', { countMax, bytesMax })
    this.countMax = countMax
    this.bytesMax = bytesMax
    this.indexes = new Array<number>(countMax).fill(0)
    this.sizes = new Array<number>(countMax).fill(0)
  }

  get count (): number { return this.n }

  full (): boolean {
    return this.n >= this.countMax || this.bytes >= this.bytesMax
  }

  add (lastIndex: number, bytes: number): void {
    invariant(this.n < this.countMax, 'inflights overflow', { count: this.n })
    if (this.n > 0) {
      const prev = this.indexes[(this.start + this.n - 1) % this.countMax] as number
      invariant(lastIndex > prev, 'inflight indexes must increase', { lastIndex, prev })
    }
    const slot = (this.start + this.n) % this.countMax
    this.indexes[slot] = lastIndex
    this.sizes[slot] = bytes
    this.n++
    this.bytes += bytes
  }

  /** Frees every message whose last index is <= `index` (acknowledged). */
  freeLE (index: number): void {
    while (this.n > 0 && (this.indexes[this.start] as number) <= index) {
      this.bytes -= this.sizes[this.start] as number
      this.start = (this.start + 1) % this.countMax
      this.n--
    }
    if (this.n === 0) {
      this.start = 0
      this.bytes = 0
    }
  }

  reset (): void {
    this.start = 0
    this.n = 0
    this.bytes = 0
  }
}
