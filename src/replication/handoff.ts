import { handoffInflightMax, handoffKeysPerRoundMax } from './constants.js'
import { peerUnreachable, type CoordinatorContext, type QuorumPeers } from './context.js'

/**
 * Hinted handoff: each round, for every replica this node holds hints for and believes up, send
 * it this node's current state of each hinted key (oldest first, bounded per round and in flight)
 * and drop the hint once the replica's acknowledged context covers it. Sending the current state
 * rather than the original write is equivalent: states only grow, and merging is idempotent.
 *
 * The same round tells every member the time of the oldest write held for it (freshness.ts).
 */
export interface WatermarkSender {
  watermark: (to: string, asOf: number, oldest: number | null) => void
}

export async function handoffRound (ctx: CoordinatorContext, members: readonly string[], sender: WatermarkSender): Promise<number> {
  let delivered = 0
  for (const target of ctx.store.hintTargets()) {
    if (target === ctx.node || !ctx.health.usable(target)) continue
    const keys = ctx.store.hintedKeys(target, handoffKeysPerRoundMax)
    let failed = false
    for (let i = 0; i < keys.length && !failed; i += handoffInflightMax) {
      const batch = keys.slice(i, i + handoffInflightMax)
      const results = await Promise.all(batch.map(async key => await handOff(ctx, ctx.peers, target, key)))
      delivered += results.filter(r => r === 'ok').length
      failed = results.includes('unreachable')
    }
  }
  const now = ctx.time.now()
  for (const m of members) {
    if (m === ctx.node) continue
    sender.watermark(m, now, ctx.store.oldestHintSince(m) ?? null)
  }
  return delivered
}

async function handOff (ctx: CoordinatorContext, peers: QuorumPeers, target: string, key: string): Promise<'ok' | 'unreachable' | 'failed'> {
  try {
    const pl = ctx.placement(key)
    const rec = await ctx.store.read(key, pl.merge)
    if (rec === undefined) return 'failed'
    const theirs = await peers.replicate(target, key, rec, undefined, ctx.peerRequestTimeoutMs)
    ctx.health.answered(target)
    if (await ctx.store.clearHint(key, target, theirs)) ctx.metrics.hintsHandedOff.inc()
    return 'ok'
  } catch (err) {
    if (peerUnreachable(err)) {
      ctx.health.failed(target)
      return 'unreachable'
    }
    ctx.logger?.warn({ event: 'handoff_failed', peer: target, key, code: (err as { code?: string }).code }, `handoff of a hinted write failed: ${(err as Error).message}`)
    return 'failed'
  }
}
