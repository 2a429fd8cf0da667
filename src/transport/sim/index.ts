/**
 * The deterministic simulated network and virtual clock that simulation tests run protocol
 * drivers on. A harness builds one replica per node from what the network hands it:
 *
 *   const clock = new SimClock()
 *   const net = new SimNetwork({ clock, random: seededRandom(seed), defaults: { dropProbability: 0.01 } })
 *   const t = net.addNode('n1')            // a Transport, plus t.time: the process's TimeSource
 *   const driver = new Driver({ transport: t, time: t.time, random: seededRandom(nodeSeed) })
 *   await clock.runFor(10_000)              // or runUntilCondition / run(asyncFn)
 *   net.crash('n1'); const t2 = net.restart('n1')   // build a fresh driver on t2
 *
 * Replay: the schedule is a pure function of the seeds and of the code, provided the simulated
 * code takes time, timers and randomness only from what it is given and does no real I/O. See
 * SimClock for the microtask contract and SimNetwork for the fault model.
 */
export { SimClock, SimulationError, runEventsMaxDefault, type RunOptions, type RunWithinOptions, type SimulationErrorReason } from './clock.js'
export { SimNetwork, type SimNetworkOptions, type HandlerErrorRecord } from './network.js'
export { SimTransport } from './transport.js'
export { reliableLink, type DelayModel, type LinkConfig, type LinkStats } from './link.js'
export type { ClockSkew } from './node-time.js'
export { formatTraceEvent, type DropReason, type TraceEvent, type TraceKind, type WireKind } from './trace.js'
