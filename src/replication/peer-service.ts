import { ClockDriftError } from '../clock/hlc.js'
import { vvDescends, type VersionVector } from '../clock/version-vector.js'
import { toQuorumKvError } from '../api/errors.js'
import type { CoordinatorContext } from './context.js'
import { Deadline } from './deadline.js'
import type { CoordinateRequest, ReadRequest, ReapRequest, ReplicateItemRequest, ReplicateRequest, ReplicateResultWire, WatermarkMessage } from './messages.js'
import { readReplyToWire } from './messages.js'
import { emptyRecord, mergeRecords, recordToWire, stateContext, stateDescends, stateHlc, type ReplicaRecord } from './record.js'
import { sessionCovers, sessionToWire } from './session.js'
import type { FreshnessTracker } from './freshness.js'
import { coordinateForwarded } from './write-path.js'

/**
 * What a replica answers to its peers. Each handler works on the local store only (plus, for a
 * forwarded write, the write path), and returns plain wire data.
 */
export class PeerService {
  constructor (private readonly ctx: CoordinatorContext, private readonly freshness: FreshnessTracker) {}

  /**
   * Merges a peer's states into ours, each key on its own (and keeps a hint when we stand in for a
   * primary). The keys' synced writes meet in the engine's group commit. One result per item.
   */
  async replicate (req: ReplicateRequest): Promise<unknown> {
    const settled = await Promise.allSettled(req.items.map(async item => await this.replicateOne(item)))
    return {
      results: settled.map((s): ReplicateResultWire => {
        if (s.status === 'fulfilled') return { ctx: s.value }
        const err = toQuorumKvError(s.reason)
        return { err: [err.code, err.message] }
      })
    }
  }

  private async replicateOne (req: ReplicateItemRequest): Promise<VersionVector> {
    const ctx = this.ctx
    const pl = ctx.placement(req.key)
    this.observeClock(req.rec)
    const merged = await ctx.store.update(req.key, pl.merge, (current) => {
      const base = current ?? emptyRecord(pl.merge)
      const next = mergeRecords(base, req.rec)
      // This replica holds writes the sender's state lacks (a concurrent write; or a tombstone that
      // was reaped everywhere but here, whose context then survives only here): the other primaries
      // may lack them too, so they get a hint each, and the handoff rounds push this state to them
      // until they acknowledge it. Without it, replicas could keep unequal contexts for good.
      const pushBack = current !== undefined && !stateDescends(req.rec.state, next.state) ? pl.primaries.filter(p => p !== ctx.node) : []
      const hintTargets = req.hintFor === undefined ? pushBack : [req.hintFor, ...pushBack]
      // Nothing new and nothing to push: skip the synced write (a repeated handoff, a read repair that raced).
      if (current !== undefined && hintTargets.length === 0 && stateDescends(current.state, req.rec.state) && sessionCovers(current.deps, req.rec.deps)) {
        return { result: current }
      }
      return { record: next, hintTargets, result: next }
    })
    return stateContext(merged.state)
  }

  async read (req: ReadRequest): Promise<unknown> {
    const ctx = this.ctx
    const pl = ctx.placement(req.key)
    const rec = await ctx.store.read(req.key, pl.merge)
    const fresh = pl.primaries.includes(ctx.node) ? ctx.freshness() : -Infinity
    return readReplyToWire(rec === undefined ? undefined : recordToWire(rec), fresh)
  }

  async coordinate (req: CoordinateRequest, signal: AbortSignal): Promise<unknown> {
    const deadline = new Deadline(this.ctx.time, req.timeoutMs, signal)
    try {
      const outcome = await coordinateForwarded(this.ctx, req.op, deadline)
      return { ctx: outcome.ctx, version: outcome.version, session: sessionToWire(outcome.session), ...(outcome.value !== undefined ? { value: outcome.value } : {}) }
    } finally {
      deadline.dispose()
    }
  }

  /**
   * `reap-check`: may the tombstone with context `ctx` be reaped here? Yes when this replica holds
   * nothing it did not see and no hint for the key (no copy of it still travelling from here).
   * `reap`: remove it if that still holds.
   */
  async reap (req: ReapRequest): Promise<unknown> {
    const ctx = this.ctx
    const pl = ctx.placement(req.key)
    if (req.t === 'reap') return { ok: await ctx.store.reap(req.key, pl.merge, req.ctx) }
    const rec = await ctx.store.read(req.key, pl.merge)
    const covered = rec === undefined || vvDescends(req.ctx, stateContext(rec.state))
    const hinted = ctx.store.hintTargets().some(t => ctx.store.hasHint(t, req.key))
    return { ok: covered && !hinted }
  }

  watermark (from: string, msg: WatermarkMessage): void {
    this.freshness.onWatermark(from, msg.asOf, msg.oldest)
  }

  /**
   * Keeps the hybrid clock ahead of the lww versions this replica stores. A timestamp beyond the
   * drift bound is stored all the same (refusing it would lose the write) but not let into the
   * clock; writes to that key are then refused by the coordinator until the clocks agree.
   */
  private observeClock (rec: ReplicaRecord): void {
    const hlc = stateHlc(rec.state)
    if (hlc === undefined) return
    try {
      this.ctx.clock.update(hlc)
    } catch (err) {
      if (!(err instanceof ClockDriftError)) throw err
      this.ctx.metrics.clockDriftRejected.inc()
      this.ctx.logger?.warn({ event: 'clock_drift', peer: hlc.node, ...err.details }, err.message)
    }
  }
}
