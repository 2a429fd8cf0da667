/**
 * The simulator's agenda: a binary min-heap of events ordered by (atMs, seq). `seq` is the
 * insertion order, so two events at the same virtual instant always run in the order they were
 * scheduled; this tie-break is what makes a seed replay exactly.
 *
 * Events are objects that carry their own `fire()` (a message in flight, a timer), so scheduling
 * a message allocates the message record and nothing else. Cancellation is lazy: a cancelled
 * event stays in the heap, flagged, until it reaches the top or a compaction removes it.
 */
export interface SimEvent {
  /** Virtual time at which the event fires; set by the queue on push. */
  atMs: number
  /** Insertion order; set by the queue on push. */
  seq: number
  cancelled: boolean
  fire: () => void
}

/** Cancelled events tolerated in the heap before a compaction is considered. */
const cancelledCompactMin = 4_096

export class EventQueue {
  private heap: SimEvent[] = []
  private seqNext = 0
  private cancelledInHeap = 0

  /** Events in the heap that will still fire. */
  get liveCount (): number {
    return this.heap.length - this.cancelledInHeap
  }

  push (event: SimEvent, atMs: number): void {
    event.atMs = atMs
    event.seq = this.seqNext++
    event.cancelled = false
    const heap = this.heap
    heap.push(event)
    this.siftUp(heap.length - 1)
  }

  /** Marks an event that is in the heap as cancelled; a no-op for one already fired or cancelled. */
  cancel (event: SimEvent): void {
    if (event.cancelled) return
    event.cancelled = true
    this.cancelledInHeap++
    if (this.cancelledInHeap > cancelledCompactMin && this.cancelledInHeap * 2 > this.heap.length) this.compact()
  }

  /** The next live event without removing it. */
  peek (): SimEvent | undefined {
    this.dropCancelledTop()
    return this.heap[0]
  }

  /** Removes and returns the next live event. */
  pop (): SimEvent | undefined {
    this.dropCancelledTop()
    return this.removeTop()
  }

  private dropCancelledTop (): void {
    const heap = this.heap
    while (heap.length > 0 && (heap[0] as SimEvent).cancelled) {
      this.removeTop()
      this.cancelledInHeap--
    }
  }

  private removeTop (): SimEvent | undefined {
    const heap = this.heap
    const top = heap[0]
    const last = heap.pop()
    if (top !== undefined && last !== undefined && heap.length > 0) {
      heap[0] = last
      this.siftDown(0)
    }
    // A fired event keeps cancelled=true so that a late cancel() of its handle is a no-op that
    // does not disturb the count; push() clears it when the object is scheduled again.
    if (top !== undefined && !top.cancelled) top.cancelled = true
    return top
  }

  private compact (): void {
    const kept = this.heap.filter(e => !e.cancelled)
    this.heap = kept
    this.cancelledInHeap = 0
    for (let i = (kept.length >> 1) - 1; i >= 0; i--) this.siftDown(i)
  }

  private siftUp (index: number): void {
    const heap = this.heap
    const item = heap[index] as SimEvent
    let i = index
    while (i > 0) {
      const parentIndex = (i - 1) >> 1
      const parent = heap[parentIndex] as SimEvent
      if (!before(item, parent)) break
      heap[i] = parent
      i = parentIndex
    }
    heap[i] = item
  }

  private siftDown (index: number): void {
    const heap = this.heap
    const length = heap.length
    const item = heap[index] as SimEvent
    let i = index
    while (true) {
      const left = 2 * i + 1
      if (left >= length) break
      const right = left + 1
      let child = left
      if (right < length && before(heap[right] as SimEvent, heap[left] as SimEvent)) child = right
      const childItem = heap[child] as SimEvent
      if (!before(childItem, item)) break
      heap[i] = childItem
      i = child
    }
    heap[i] = item
  }
}

function before (a: SimEvent, b: SimEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq)
}
