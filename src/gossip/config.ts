import { InvalidArgumentError } from '../api/errors.js'
import type { Config } from '../config/schema.js'
import {
  GOSSIP_TO_THE_DEAD_MS, LOCAL_HEALTH_MAX, RECONNECT_EVERY_PROBES, RELAYS_MAX, RETRANSMIT_MULTIPLIER, UPDATES_PER_MESSAGE_MAX
} from './constants.js'

/** The `gossip` section of the node config. */
export type GossipConfig = Config['gossip']

/** Knobs of the failure detector that are not in the node config; defaults in constants.ts. */
export interface SwimTuning {
  /** Piggyback each update multiplier * ceil(log10(N + 1)) times. */
  retransmitMultiplier: number
  /** Lifeguard's local health multiplier cap; 1 turns it off. */
  localHealthMax: number
  /** How long a dead member still receives gossip (so a wrongly declared node can refute). */
  gossipToTheDeadMs: number
  /** Ping one dead member every this many probe periods. */
  reconnectEveryProbes: number
  /** Updates piggybacked per message. */
  updatesPerMessageMax: number
  /** Indirect probes run at once on behalf of others. */
  relaysMax: number
}

export type SwimConfig = GossipConfig & SwimTuning

export const defaultTuning: Readonly<SwimTuning> = Object.freeze({
  retransmitMultiplier: RETRANSMIT_MULTIPLIER,
  localHealthMax: LOCAL_HEALTH_MAX,
  gossipToTheDeadMs: GOSSIP_TO_THE_DEAD_MS,
  reconnectEveryProbes: RECONNECT_EVERY_PROBES,
  updatesPerMessageMax: UPDATES_PER_MESSAGE_MAX,
  relaysMax: RELAYS_MAX
})

function positiveInt (value: number, name: string): void {
  if (!(Number.isSafeInteger(value) && value >= 1)) throw new InvalidArgumentError(`gossip ${name} must be a positive integer, got ${value}`)
}

/**
 * The config the core runs with. parseConfig already checks the gossip section; this repeats the
 * checks the core depends on, because the core can be built without parseConfig (tests, tools).
 */
export function resolveSwimConfig (gossip: GossipConfig, tuning: Partial<SwimTuning> = {}): SwimConfig {
  const config: SwimConfig = { ...gossip, ...defaultTuning, ...tuning }
  positiveInt(config.probeIntervalMs, 'probeIntervalMs')
  positiveInt(config.probeTimeoutMs, 'probeTimeoutMs')
  positiveInt(config.gossipIntervalMs, 'gossipIntervalMs')
  positiveInt(config.gossipFanout, 'gossipFanout')
  positiveInt(config.suspicionMultiplier, 'suspicionMultiplier')
  positiveInt(config.retransmitMultiplier, 'retransmitMultiplier')
  positiveInt(config.localHealthMax, 'localHealthMax')
  positiveInt(config.gossipToTheDeadMs, 'gossipToTheDeadMs')
  positiveInt(config.reconnectEveryProbes, 'reconnectEveryProbes')
  positiveInt(config.updatesPerMessageMax, 'updatesPerMessageMax')
  positiveInt(config.relaysMax, 'relaysMax')
  if (!(Number.isSafeInteger(config.indirectProbes) && config.indirectProbes >= 0)) {
    throw new InvalidArgumentError(`gossip indirectProbes must be an integer >= 0, got ${config.indirectProbes}`)
  }
  // Indirect probes are sent when the direct timeout passes and must come back before the period ends.
  if (config.probeTimeoutMs >= config.probeIntervalMs) {
    throw new InvalidArgumentError('gossip probeTimeoutMs must be less than probeIntervalMs', { field: 'gossip.probeTimeoutMs' })
  }
  return config
}
