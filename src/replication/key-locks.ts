import { OverloadedError } from '../api/errors.js'

/**
 * One async mutex per key: a read-modify-write of a key's stored state runs alone, so two writes
 * coordinated by this node never read the same state and issue conflicting results. Nothing held
 * across network calls: a holder only reads, computes and writes locally.
 */
export class KeyLocks {
  private readonly waiting = new Map<string, { tail: Promise<void>, count: number }>()

  /** @param waitersPerKeyMax calls queued on one key before OverloadedError. */
  constructor (private readonly waitersPerKeyMax: number) {}

  async run<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const slot = this.waiting.get(key)
    if (slot !== undefined && slot.count >= this.waitersPerKeyMax) {
      throw new OverloadedError(`more than ${this.waitersPerKeyMax} operations are waiting on one key: back off and retry`, { key: key.slice(0, 120) })
    }
    const prev = slot?.tail ?? Promise.resolve()
    let release = (): void => {}
    const mine = new Promise<void>(resolve => { release = resolve })
    const tail = prev.then(() => mine)
    const entry = { tail, count: (slot?.count ?? 0) + 1 }
    this.waiting.set(key, entry)
    await prev
    try {
      return await fn()
    } finally {
      release()
      const now = this.waiting.get(key)
      if (now !== undefined) {
        now.count--
        if (now.count === 0) this.waiting.delete(key)
      }
    }
  }

  /** Is a call running or waiting on `key`? */
  isLocked (key: string): boolean {
    return this.waiting.has(key)
  }

  get keysLocked (): number {
    return this.waiting.size
  }
}
