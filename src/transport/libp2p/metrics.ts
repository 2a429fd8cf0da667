import { Gauge, Histogram, type Counter } from 'prom-client'
import { gaugeSources, sharedCounter, sharedMetric } from '../../observability/metrics.js'
import type { Registry } from 'prom-client'

/** Why an inbound frame, envelope or stream was refused. Stable: dashboards key on it. */
export type RejectReason =
  | 'oversized' // frame header announced more than frameBytesMax
  | 'undecodable' // frame body is not msgpack
  | 'truncated' // stream ended in the middle of a frame
  | 'malformed' // envelope failed its guard
  | 'unknown_protocol' // no handler (or no handler of that kind) for the protocol
  | 'parse' // the handler's parse() refused the body
  | 'overloaded' // too many requests of one stream in the handlers
  | 'not_allowed' // stream from a peer the gater no longer admits

export type RequestOutcome = 'ok' | 'remote_error' | 'timeout' | 'aborted' | 'unavailable' | 'refused' | 'overloaded' | 'closed' | 'too_large' | 'invalid'

export type DropReason = 'queue_full' | 'unavailable' | 'stopped' | 'too_large' | 'unencodable' | 'link_lost'

export interface TransportGaugeSource {
  queuedFrames: () => number
  queuedBytes: () => number
  pendingRequests: () => number
}

/** Gauges are summed over every transport that shares a registry. */
const sourcesByRegistry = new WeakMap<Registry, Set<TransportGaugeSource>>()

interface Inc { inc: (value?: number) => void }
interface Observe { observe: (value: number) => void }

/**
 * The transport's metrics in the injected registry. Two transports may share a registry (tests
 * run several nodes in one process): each metric is created once and reused. Label children are
 * cached because prom-client hashes the label object on every call otherwise.
 */
export class TransportMetrics {
  private readonly rejected: Counter<'reason'>
  private readonly requests: Counter<'protocol' | 'outcome'>
  private readonly duration: Histogram<'protocol'>
  private readonly served: Counter<'protocol' | 'outcome'>
  private readonly messages: Counter<'protocol' | 'direction'>
  private readonly dropped: Counter<'reason'>
  private readonly refused: Counter<'direction'>
  private readonly dials: Counter<'outcome'>
  private readonly children = new Map<string, Inc>()
  private readonly histograms = new Map<string, Observe>()
  private readonly sources: Set<TransportGaugeSource>

  constructor (registry: Registry) {
    const shared = gaugeSources(sourcesByRegistry, registry)
    this.sources = shared
    const sum = (pick: (s: TransportGaugeSource) => number): number => {
      let total = 0
      for (const s of shared) total += pick(s)
      return total
    }
    this.rejected = sharedCounter(registry, 'quorumkv_rpc_rejected_total', 'Inbound frames, envelopes or streams refused, by reason', ['reason'])
    this.requests = sharedCounter(registry, 'quorumkv_rpc_requests_total', 'Outbound requests by protocol and outcome', ['protocol', 'outcome'])
    this.duration = sharedMetric(registry, 'quorumkv_rpc_request_duration_seconds', () => new Histogram({
      name: 'quorumkv_rpc_request_duration_seconds',
      help: 'Round-trip time of successful outbound requests',
      labelNames: ['protocol'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry]
    }))
    this.served = sharedCounter(registry, 'quorumkv_rpc_served_total', 'Inbound requests answered, by protocol and outcome', ['protocol', 'outcome'])
    this.messages = sharedCounter(registry, 'quorumkv_rpc_messages_total', 'One-way messages by protocol and direction (sent, received)', ['protocol', 'direction'])
    this.dropped = sharedCounter(registry, 'quorumkv_rpc_messages_dropped_total', 'Outbound one-way messages dropped, by reason', ['reason'])
    this.refused = sharedCounter(registry, 'quorumkv_transport_connections_refused_total', 'Connections refused by the connection gater, by direction', ['direction'])
    this.dials = sharedCounter(registry, 'quorumkv_transport_dials_total', 'Stream dials to peers, by outcome', ['outcome'])
    gauge(registry, 'quorumkv_transport_queued_frames', 'Frames queued for peers and not yet written', () => sum(s => s.queuedFrames()))
    gauge(registry, 'quorumkv_transport_queued_bytes', 'Bytes queued for peers and not yet written', () => sum(s => s.queuedBytes()))
    gauge(registry, 'quorumkv_transport_pending_requests', 'Outbound requests waiting for a reply', () => sum(s => s.pendingRequests()))
  }

  addSource (source: TransportGaugeSource): void { this.sources.add(source) }
  removeSource (source: TransportGaugeSource): void { this.sources.delete(source) }

  reject (reason: RejectReason): void { this.child('r', reason, () => this.rejected.labels(reason)).inc() }
  request (protocol: string, outcome: RequestOutcome): void { this.child(`q${protocol}`, outcome, () => this.requests.labels(protocol, outcome)).inc() }
  serve (protocol: string, outcome: 'ok' | 'error'): void { this.child(`s${protocol}`, outcome, () => this.served.labels(protocol, outcome)).inc() }
  message (protocol: string, direction: 'sent' | 'received'): void { this.child(`m${protocol}`, direction, () => this.messages.labels(protocol, direction)).inc() }
  drop (reason: DropReason, count = 1): void { this.child('d', reason, () => this.dropped.labels(reason)).inc(count) }
  refuse (direction: 'inbound' | 'outbound' | 'dial'): void { this.child('f', direction, () => this.refused.labels(direction)).inc() }
  dial (outcome: 'ok' | 'error'): void { this.child('n', outcome, () => this.dials.labels(outcome)).inc() }

  requestDuration (protocol: string, seconds: number): void {
    let h = this.histograms.get(protocol)
    if (h === undefined) {
      h = this.duration.labels(protocol)
      this.histograms.set(protocol, h)
    }
    h.observe(seconds)
  }

  private child (group: string, label: string, make: () => Inc): Inc {
    const key = `${group}\u0000${label}`
    let c = this.children.get(key)
    if (c === undefined) {
      c = make()
      this.children.set(key, c)
    }
    return c
  }
}

function gauge (registry: Registry, name: string, help: string, read: () => number): void {
  // The first transport's collect() already sums over every shared source.
  sharedMetric(registry, name, () => new Gauge({ name, help, registers: [registry], collect () { this.set(read()) } }))
}
