import { reapKeysPerRoundMax } from './constants.js'
import type { CoordinatorContext } from './context.js'
import { isDeletedState, stateContext } from './record.js'

/**
 * Tombstone reaping. A deleted key's state is removed only when every member of the ring holds
 * nothing of the key that the tombstone did not see and no hint for it, and not before this
 * replica has held the tombstone for `tombstoneReapDelayMs`. Reaping earlier could resurrect
 * deleted data: a replica (or a hinted copy) still holding an older value would hand it to
 * replicas that no longer remember the delete.
 *
 * Normally the key's first primary reaps it; any other holder of the tombstone (a replica a reap
 * did not reach, a stand-in's copy) reaps it after twice the delay. Two reapers at once are
 * harmless: each only removes what its own tombstone covers, after every member agreed. A member
 * that does not answer, or answers no, defers the reap to a later round. The delay must exceed how
 * long a message can travel (read repair and handoff copies in flight are the remaining way back
 * for an old value).
 */
export async function reapRound (ctx: CoordinatorContext, members: readonly string[], reapDelayMs: number): Promise<number> {
  let reaped = 0
  const now = ctx.time.now()
  const keys = ctx.store.tombstonesOlderThan(now - reapDelayMs, reapKeysPerRoundMax)
  const patient = new Set(ctx.store.tombstonesOlderThan(now - 2 * reapDelayMs, reapKeysPerRoundMax))
  for (const key of keys) {
    try {
      const pl = ctx.placement(key)
      if (pl.primaries[0] !== ctx.node && !patient.has(key)) continue
      const rec = await ctx.store.read(key, pl.merge)
      if (rec === undefined || !isDeletedState(rec.state)) continue
      if (ctx.store.hintTargets().some(t => ctx.store.hasHint(t, key))) continue
      const tomb = stateContext(rec.state)
      const others = members.filter(m => m !== ctx.node)
      const ask = async (phase: 'reap-check' | 'reap', m: string): Promise<boolean> =>
        await ctx.peers.reap(m, phase, key, tomb, ctx.peerRequestTimeoutMs).catch(() => false)
      const checks = await Promise.all(others.map(async m => await ask('reap-check', m)))
      if (!checks.every(Boolean)) continue
      await Promise.all(others.map(async m => await ask('reap', m)))
      if (await ctx.store.reap(key, pl.merge, tomb)) {
        reaped++
        ctx.metrics.tombstonesReaped.inc()
      }
    } catch (err) {
      ctx.logger?.warn({ event: 'reap_failed', key, code: (err as { code?: string }).code }, `reaping a tombstone failed: ${(err as Error).message}`)
    }
  }
  return reaped
}
