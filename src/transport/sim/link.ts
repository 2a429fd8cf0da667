import { InvalidArgumentError } from '../../api/errors.js'
import type { Random } from '../../runtime/random.js'

/**
 * The fault model of one directed link. Every message (and every reply, which travels the
 * reverse link) draws its own fate: dropped, delayed, duplicated. Independent delays reorder
 * messages on their own; `reorderProbability` adds an explicit hold-back for links with a fixed
 * delay, and `fifo` forbids reordering altogether (a TCP-like stream).
 */
export interface LinkConfig {
  /** Probability in [0, 1] that a message is lost. */
  dropProbability: number
  /** Probability in [0, 1] that a message is delivered twice (each copy with its own delay). */
  duplicateProbability: number
  delay: DelayModel
  /** Probability in [0, 1] that a message is held back by an extra uniform [0, reorderExtraMs]. */
  reorderProbability: number
  reorderExtraMs: number
  /** Deliver in send order (each arrival no earlier than the previous one on this link). */
  fifo: boolean
}

export type DelayModel =
  | { kind: 'fixed', ms: number }
  | { kind: 'uniform', minMs: number, maxMs: number }
  /**
   * Pareto from minMs with the given median, cut at maxMs: most messages are fast, a few are very
   * slow, which is what real networks under load look like.
   */
  | { kind: 'long-tail', minMs: number, medianMs: number, maxMs: number }

/** A fault-free link with a 1 ms delay: the default when a network names no defaults. */
export const reliableLink: Readonly<LinkConfig> = Object.freeze({
  dropProbability: 0,
  duplicateProbability: 0,
  delay: Object.freeze({ kind: 'fixed', ms: 1 }),
  reorderProbability: 0,
  reorderExtraMs: 0,
  fifo: false
})

export function resolveLinkConfig (base: Readonly<LinkConfig>, change: Partial<LinkConfig>): LinkConfig {
  const config: LinkConfig = { ...base, ...change }
  checkProbability(config.dropProbability, 'dropProbability')
  checkProbability(config.duplicateProbability, 'duplicateProbability')
  checkProbability(config.reorderProbability, 'reorderProbability')
  checkNonNegative(config.reorderExtraMs, 'reorderExtraMs')
  const delay = config.delay
  switch (delay.kind) {
    case 'fixed':
      checkNonNegative(delay.ms, 'delay.ms')
      break
    case 'uniform':
      checkNonNegative(delay.minMs, 'delay.minMs')
      checkNonNegative(delay.maxMs, 'delay.maxMs')
      if (delay.maxMs < delay.minMs) throw new InvalidArgumentError('delay.maxMs must be at least delay.minMs')
      break
    case 'long-tail':
      checkNonNegative(delay.minMs, 'delay.minMs')
      if (!(delay.medianMs > delay.minMs && delay.minMs > 0)) throw new InvalidArgumentError('a long-tail delay needs 0 < minMs < medianMs')
      if (!(delay.maxMs >= delay.medianMs && Number.isFinite(delay.maxMs))) throw new InvalidArgumentError('a long-tail delay needs a finite maxMs of at least medianMs')
      break
    default:
      throw new InvalidArgumentError(`unknown delay kind ${String((delay as { kind: unknown }).kind)}`)
  }
  return config
}

function checkProbability (p: number, name: string): void {
  if (!(p >= 0 && p <= 1)) throw new InvalidArgumentError(`${name} must be a probability in [0, 1], got ${p}`)
}

function checkNonNegative (ms: number, name: string): void {
  if (!(ms >= 0 && Number.isFinite(ms))) throw new InvalidArgumentError(`${name} must be a finite number >= 0, got ${ms}`)
}

/** One message's transit time on a link, drawn from `random`. */
export function sampleDelayMs (config: LinkConfig, random: Random): number {
  const delay = config.delay
  let ms: number
  switch (delay.kind) {
    case 'fixed':
      ms = delay.ms
      break
    case 'uniform':
      ms = delay.minMs === delay.maxMs ? delay.minMs : delay.minMs + random.next() * (delay.maxMs - delay.minMs)
      break
    case 'long-tail': {
      // Pareto(xm = minMs, alpha) has median xm * 2^(1/alpha), so alpha = ln 2 / ln(median / min).
      const alpha = Math.LN2 / Math.log(delay.medianMs / delay.minMs)
      const u = 1 - random.next() // (0, 1]: never divides by zero
      ms = Math.min(delay.maxMs, delay.minMs / Math.pow(u, 1 / alpha))
      break
    }
  }
  if (config.reorderProbability > 0 && random.next() < config.reorderProbability) {
    ms += random.next() * config.reorderExtraMs
  }
  return ms
}

/** Counters of one directed link. Replies count on the link they travel (the reverse one). */
export interface LinkStats {
  /** Messages accepted for sending (after the queue check), originals only. */
  sent: number
  /** Copies handed to a handler (after parse). */
  delivered: number
  /** Copies lost: link loss, partition, peer down, no handler. */
  dropped: number
  /** Extra copies created. */
  duplicated: number
  /** Copies whose parse threw. */
  rejected: number
  /** Sends refused because the link's in-flight queue was full. */
  queueFull: number
  /** Copies held back because the receiver was paused. */
  held: number
}

export function emptyLinkStats (): LinkStats {
  return { sent: 0, delivered: 0, dropped: 0, duplicated: 0, rejected: 0, queueFull: 0, held: 0 }
}

export function addLinkStats (into: LinkStats, from: Readonly<LinkStats>): void {
  into.sent += from.sent
  into.delivered += from.delivered
  into.dropped += from.dropped
  into.duplicated += from.duplicated
  into.rejected += from.rejected
  into.queueFull += from.queueFull
  into.held += from.held
}
