/**
 * The simulator's agenda: callbacks ordered by virtual time, ties broken by scheduling order so
 * a run is a pure function of its seed.
 */
interface Event {
  time: number
  seq: number
  fn: () => void
}

export class EventQueue {
  private heap: Event[] = []
  private seq = 0
  now = 0

  get size (): number { return this.heap.length }

  at (time: number, fn: () => void): void {
    const e: Event = { time: Math.max(time, this.now), seq: this.seq++, fn }
    const h = this.heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(e, h[p] as Event)) break
      h[i] = h[p] as Event
      i = p
    }
    h[i] = e
  }

  after (delayMs: number, fn: () => void): void {
    this.at(this.now + delayMs, fn)
  }

  /** Runs events until `until` (virtual ms) or until `eventsMax` ran; returns how many ran. */
  run (until: number, eventsMax: number): number {
    let n = 0
    while (this.heap.length > 0 && n < eventsMax) {
      const top = this.heap[0] as Event
      if (top.time > until) break
      this.pop()
      this.now = top.time
      top.fn()
      n++
    }
    if (this.heap.length === 0 || (this.heap[0] as Event).time > until) this.now = Math.max(this.now, until)
    return n
  }

  private pop (): void {
    const h = this.heap
    const last = h.pop() as Event
    if (h.length === 0) return
    let i = 0
    const n = h.length
    while (true) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && less(h[r] as Event, h[l] as Event) ? r : l
      if (!less(h[c] as Event, last)) break
      h[i] = h[c] as Event
      i = c
    }
    h[i] = last
  }
}

function less (a: Event, b: Event): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq)
}
