import { Counter, Histogram, Registry } from 'prom-client'

/**
 * One registry per node, so several embedded nodes in one process keep separate figures. Names and
 * labels are listed in docs/observability.md; other layers register their own metrics on
 * `registry`.
 */
export interface NodeMetrics {
  registry: Registry
  requestsTotal: Counter<'op' | 'consistency'>
  errorsTotal: Counter<'op' | 'code'>
  requestDuration: Histogram<'op' | 'consistency'>
  payloadBytes: Histogram<'op'>
  commitBatchSize: Histogram
}

export function createNodeMetrics (registry: Registry = new Registry()): NodeMetrics {
  return {
    registry,
    requestsTotal: new Counter({
      name: 'quorumkv_requests_total',
      help: 'Client calls served, by operation and consistency level.',
      labelNames: ['op', 'consistency'],
      registers: [registry]
    }),
    errorsTotal: new Counter({
      name: 'quorumkv_errors_total',
      help: 'Client calls that failed, by operation and error code.',
      labelNames: ['op', 'code'],
      registers: [registry]
    }),
    requestDuration: new Histogram({
      name: 'quorumkv_request_duration_seconds',
      help: 'Time to serve a client call, by operation and consistency level.',
      labelNames: ['op', 'consistency'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry]
    }),
    payloadBytes: new Histogram({
      name: 'quorumkv_payload_bytes',
      help: 'Encoded size of values written (put) and read (get).',
      labelNames: ['op'],
      buckets: [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304],
      registers: [registry]
    }),
    commitBatchSize: new Histogram({
      name: 'quorumkv_commit_batch_size',
      help: 'Writes that shared one synced batch (group commit).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers: [registry]
    })
  }
}

/**
 * The metric `name` of `registry`, created by `create` on first use. Layers that share a
 * registry (several nodes in one process in tests) or restart in one process reuse it.
 */
export function sharedMetric<T> (registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create()
}

export function sharedCounter<L extends string = string> (registry: Registry, name: string, help: string, labelNames: L[] = []): Counter<L> {
  return sharedMetric(registry, name, () => new Counter<L>({ name, help, labelNames, registers: [registry] }))
}

/**
 * The sources a registry's summing gauges read from: every instance of a layer that shares the
 * registry adds itself, and the first instance's gauge sums over all of them.
 */
export function gaugeSources<S> (byRegistry: WeakMap<Registry, Set<S>>, registry: Registry): Set<S> {
  let sources = byRegistry.get(registry)
  if (sources === undefined) {
    sources = new Set()
    byRegistry.set(registry, sources)
  }
  return sources
}
