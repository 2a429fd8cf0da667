/**
 * What happened on the simulated network, for replay checks and for reading a failing seed.
 *
 * A 32-bit digest of every event is always kept (a few integer multiplies per event); the full
 * event list is kept only when asked for (`traceEventsMax > 0`), as a ring of the most recent
 * events, because building records costs time that 500-seed CI runs should not pay.
 */
export type TraceKind =
  | 'send' | 'deliver' | 'drop' | 'duplicate' | 'reject' | 'hold' | 'queue-full'
  | 'crash' | 'restart' | 'pause' | 'partition' | 'isolate' | 'heal' | 'link'

/** What a wire event carried: a one-way message, a request, a reply, an error reply, a cancel. */
export type WireKind = 'msg' | 'req' | 'rep' | 'err' | 'cancel'

/**
 * Why a copy was lost: the link's loss rate, a partition, the receiver down, no such peer, no
 * handler for the protocol; or why a send was refused before the wire: too big, unencodable.
 */
export type DropReason = 'loss' | 'partition' | 'down' | 'unknown-peer' | 'no-handler' | 'too-large' | 'unencodable'

export interface TraceEvent {
  atMs: number
  kind: TraceKind
  /** The node the event is about (the sender for wire events). */
  from: string
  /** The receiver for wire events, '' otherwise. */
  to: string
  wire: WireKind | ''
  protocol: string
  /** Message id (network-wide), 0 for control events. */
  id: number
  bytes: number
  /** A drop reason or a control event's detail. */
  detail: string
}

const kindCodes: Readonly<Record<TraceKind, number>> = {
  send: 1, deliver: 2, drop: 3, duplicate: 4, reject: 5, hold: 6, 'queue-full': 7,
  crash: 8, restart: 9, pause: 10, partition: 11, isolate: 12, heal: 13, link: 14
}

const fnvOffset = 0x811c9dc5
const fnvPrime = 0x01000193

export class TraceRecorder {
  private digestValue = fnvOffset
  private readonly ring: TraceEvent[] = []
  private ringNext = 0
  private overwritten = 0

  constructor (readonly eventsMax: number) {}

  get enabled (): boolean {
    return this.eventsMax > 0
  }

  /**
   * Hot path: mixes an event into the digest. `fromIndex`/`toIndex`/`protocolIndex` are small
   * integers the network assigns, so no string is hashed per message.
   */
  mix (kind: TraceKind, atMs: number, fromIndex: number, toIndex: number, wire: number, protocolIndex: number, id: number, bytes: number): void {
    const atUs = Math.round(atMs * 1000)
    let h = this.digestValue
    h = Math.imul(h ^ kindCodes[kind], fnvPrime)
    h = Math.imul(h ^ (atUs | 0), fnvPrime)
    h = Math.imul(h ^ ((atUs / 4294967296) | 0), fnvPrime)
    h = Math.imul(h ^ fromIndex, fnvPrime)
    h = Math.imul(h ^ toIndex, fnvPrime)
    h = Math.imul(h ^ wire, fnvPrime)
    h = Math.imul(h ^ protocolIndex, fnvPrime)
    h = Math.imul(h ^ id, fnvPrime)
    h = Math.imul(h ^ bytes, fnvPrime)
    this.digestValue = h >>> 0
  }

  record (event: TraceEvent): void {
    if (this.ring.length < this.eventsMax) {
      this.ring.push(event)
      return
    }
    this.ring[this.ringNext] = event
    this.ringNext = (this.ringNext + 1) % this.eventsMax
    this.overwritten++
  }

  /** The digest of every event so far: equal seeds and equal schedules give equal digests. */
  get digest (): number {
    return this.digestValue
  }

  /** Recorded events evicted from the ring. */
  get evicted (): number {
    return this.overwritten
  }

  events (): TraceEvent[] {
    return this.ringNext === 0 ? this.ring.slice() : [...this.ring.slice(this.ringNext), ...this.ring.slice(0, this.ringNext)]
  }
}

export function formatTraceEvent (e: TraceEvent): string {
  const at = e.atMs.toFixed(3)
  if (e.wire === '') return `${at} ${e.kind} ${e.from}${e.to === '' ? '' : ` ${e.to}`}${e.detail === '' ? '' : ` ${e.detail}`}`
  return `${at} ${e.kind} ${e.wire}#${e.id} ${e.from}->${e.to} ${e.protocol} ${e.bytes}B${e.detail === '' ? '' : ` ${e.detail}`}`
}
