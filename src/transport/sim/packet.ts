import type { SimEvent } from './event-queue.js'
import type { WireKind } from './trace.js'

/** What a packet carries. Numbers, not strings: compared once per delivery. */
export const Wire = Object.freeze({ Message: 0, Request: 1, Reply: 2, ErrorReply: 3, Cancel: 4 } as const)
export type Wire = (typeof Wire)[keyof typeof Wire]

export const wireKinds: readonly WireKind[] = ['msg', 'req', 'rep', 'err', 'cancel']

export interface PacketSink {
  arrive: (packet: Packet) => void
}

/**
 * One copy of a message in flight, and the event of its arrival. The body is the encoded bytes:
 * every copy is decoded on arrival, so receivers never share objects with the sender or with
 * each other, and a value that does not survive the codec fails here as it would on the wire.
 */
export class Packet implements SimEvent {
  atMs = 0
  seq = 0
  cancelled = false

  constructor (
    readonly sink: PacketSink,
    /** The directed link this copy travels (an opaque network record). */
    readonly linkIndex: number,
    readonly wire: Wire,
    readonly protocol: string,
    readonly protocolIndex: number,
    readonly bytes: Uint8Array,
    /** Network-wide message id; duplicate copies share it. */
    readonly id: number,
    /** For replies and cancels: the id of the request they are about. */
    readonly requestId: number,
    /** The sender's process incarnation: a message to itself dies with the process that sent it. */
    readonly fromIncarnation: number
  ) {}

  fire (): void {
    this.sink.arrive(this)
  }
}
