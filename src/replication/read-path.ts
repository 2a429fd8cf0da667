import { ConsistencyLevel } from '../api/consistency.js'
import { QuorumUnavailableError } from '../api/errors.js'
import { emptyVersionVector, vvEqual, vvMerge, type VersionVector } from '../clock/version-vector.js'
import { readRetryDelayMaxMs, readRetryDelayMs, readRoundsMax, readSpeculativeMs } from './constants.js'
import { peerUnreachable, type CoordinatorContext, type KeyPlacement } from './context.js'
import { ChangeSignal, type Deadline } from './deadline.js'
import type { TimerHandle } from '../runtime/time.js'
import type { ReadReply } from './messages.js'
import { emptyRecord, mergeRecords, stateContext, type ReplicaRecord } from './record.js'
import { sessionRequirement, unsatisfiedNodes, type QuorumSession } from './session.js'

/**
 * The read path of a coordinator (any node): ask `r` of the key's replicas (this node first when it
 * is one), and the next one whenever those answered without meeting the call's level, failed, or
 * take longer than readSpeculativeMs; once `r` answers (`pr` of them from primaries) meet the level,
 * merge what they hold, repair the ones found behind, answer. Replicas not asked are brought up to
 * date by hinted handoff and anti-entropy, as in Cassandra (Riak asks all n).
 *
 * Levels:
 * - `eventual`: `r` answers, merged.
 * - `read-your-writes`, `causal`: also every node the session's bucket names (session.ts) is either
 *   covered by the merged context or answered itself. Such nodes are asked too. Lagging answers are
 *   waited for; if a round ends unsatisfied the read is retried after a pause (hints and repair may
 *   catch the replicas up) until the deadline or readRoundsMax: never a stale answer.
 * - `bounded`: also some primary that answered is fresh as of (start - maxStalenessMs).
 */
export interface ReadSpec {
  level: ConsistencyLevel
  r: number
  pr: number
  session: QuorumSession
  maxStalenessMs?: number
}

export interface ReadOutcome {
  /** The merged record of every answer, or undefined when no replica holds the key. */
  record: ReplicaRecord | undefined
  /** Nodes whose answer the result reflects. */
  answered: string[]
}

interface Round {
  replies: Map<string, ReadReply>
  pending: number
  asked: Set<string>
  /** An answer that no retry can fix (the key's stored data does not match its configuration). */
  fatal?: unknown
}

export async function coordinateRead (ctx: CoordinatorContext, key: string, spec: ReadSpec, deadline: Deadline): Promise<ReadOutcome> {
  const pl = ctx.placement(key)
  const startMs = ctx.time.now()
  const rEff = Math.min(spec.r, pl.primaries.length)
  const prEff = Math.min(spec.pr, pl.primaries.length)
  const sessionBound = spec.level === ConsistencyLevel.Causal || spec.level === ConsistencyLevel.ReadYourWrites
  const requirement = sessionBound ? sessionRequirement(spec.session, key) : emptyVersionVector
  const freshNeeded = spec.level === ConsistencyLevel.BoundedStaleness ? startMs - (spec.maxStalenessMs ?? 0) : undefined
  let delayMs = readRetryDelayMs
  let lastProblem = ''
  for (let round = 0; round <= readRoundsMax; round++) {
    const r: Round = { replies: new Map(), pending: 0, asked: new Set() }
    const changed = new ChangeSignal()
    const ask = (node: string): void => {
      if (r.asked.has(node)) return
      r.asked.add(node)
      r.pending++
      readOne(ctx, node, key, deadline).then(
        reply => { r.replies.set(node, reply); ctx.health.answered(node) },
        (err: unknown) => {
          if (peerUnreachable(err)) ctx.health.failed(node)
          else if ((err as { code?: unknown }).code === 'CONFIG') r.fatal ??= err
        }
      ).finally(() => { r.pending--; changed.notify() })
    }
    // Targets: the usable primaries and stand-ins for the others, as many as the read needs at
    // first, this node before the others (its answer costs no message); and every node the
    // session names.
    const sloppy = sloppyTargets(ctx, pl)
    const unasked = sloppy.includes(ctx.node) ? [ctx.node, ...sloppy.filter(n => n !== ctx.node)] : sloppy.slice()
    const anyUnasked = (): boolean => {
      while (unasked.length > 0 && r.asked.has(unasked[0] as string)) unasked.shift()
      return unasked.length > 0
    }
    const askNext = (): boolean => {
      if (!anyUnasked()) return false
      ask(unasked.shift() as string)
      return true
    }
    for (let i = 0; i < rEff; i++) askNext()
    for (const node of Object.keys(requirement)) if (ctx.health.usable(node)) ask(node)
    // Further stand-ins, asked only when the candidates above cannot make `r`.
    const fallbacks = pl.fallbacks.filter(f => !r.asked.has(f) && !sloppy.includes(f))
    while (true) {
      if (r.fatal !== undefined) throw r.fatal
      const verdict = judge(r, pl, sloppy, rEff, prEff, requirement, freshNeeded)
      if (verdict.ok) {
        const record = mergeAll(r, pl)
        if (ctx.readRepair) repairLater(ctx, key, pl, r, changed, deadline)
        return { record, answered: [...r.replies.keys()] }
      }
      lastProblem = verdict.problem
      if (r.pending === 0) {
        // The answers so far do not do: ask the next replica, then the next stand-ins, before
        // giving up on this round.
        if (askNext()) continue
        if (verdict.tooFew) {
          const fallback = fallbacks.shift()
          if (fallback !== undefined) {
            if (ctx.health.usable(fallback)) { sloppy.push(fallback); ask(fallback) }
            continue
          }
          ctx.metrics.quorumUnavailable.inc({ op: 'read' })
          throw new QuorumUnavailableError(`only ${countIn(r, sloppy)} of the ${rEff} replicas a read of "${key}" needs answered${prEff > 0 ? ` (${prEff} of them primaries)` : ''}: retry when more replicas are reachable`, { key, r: rEff, pr: prEff, answered: countIn(r, sloppy) })
        }
        break
      }
      // A replica slow to answer: past readSpeculativeMs, ask the next one beside it.
      if (!anyUnasked()) await deadline.race(changed.wait())
      else if (!await changedWithin(ctx, changed, readSpeculativeMs, deadline)) askNext()
    }
    if (round < readRoundsMax) {
      await deadline.sleep(delayMs)
      delayMs = Math.min(delayMs * 2, readRetryDelayMaxMs)
    }
  }
  ctx.metrics.quorumUnavailable.inc({ op: 'read' })
  throw new QuorumUnavailableError(`a ${spec.level} read of "${key}" could not be served without returning stale data: ${lastProblem}; retry when those replicas are reachable`, { key, level: spec.level })
}

/** True as soon as `changed` fires, false once `ms` passed first. */
async function changedWithin (ctx: CoordinatorContext, changed: ChangeSignal, ms: number, deadline: Deadline): Promise<boolean> {
  let timer: TimerHandle | undefined
  try {
    return await deadline.race(Promise.race([
      changed.wait().then(() => true),
      new Promise<boolean>(resolve => { timer = ctx.time.setTimeout(() => { resolve(false) }, ms) })
    ]))
  } finally {
    timer?.cancel()
  }
}

/** Usable primaries, then usable fallbacks standing in for the rest, n in all. */
export function sloppyTargets (ctx: CoordinatorContext, pl: KeyPlacement): string[] {
  const out = pl.primaries.filter(p => ctx.health.usable(p))
  for (const f of pl.fallbacks) {
    if (out.length >= pl.primaries.length) break
    if (ctx.health.usable(f)) out.push(f)
  }
  return out
}

async function readOne (ctx: CoordinatorContext, node: string, key: string, deadline: Deadline): Promise<ReadReply> {
  if (node === ctx.node) {
    const pl = ctx.placement(key)
    return { rec: await ctx.store.read(key, pl.merge), fresh: pl.primaries.includes(ctx.node) ? ctx.freshness() : -Infinity }
  }
  return await ctx.peers.read(node, key, Math.max(1, Math.min(ctx.peerRequestTimeoutMs, deadline.remainingMs())))
}

function countIn (r: Round, nodes: readonly string[]): number {
  return nodes.filter(n => r.replies.has(n)).length
}

function judge (r: Round, pl: KeyPlacement, sloppy: readonly string[], rEff: number, prEff: number, requirement: VersionVector, freshNeeded: number | undefined): { ok: boolean, tooFew: boolean, problem: string } {
  const count = countIn(r, sloppy)
  const primaries = pl.primaries.filter(p => r.replies.has(p)).length
  if (count < rEff || primaries < prEff) return { ok: false, tooFew: true, problem: `${count} of ${rEff} replicas answered` }
  let merged = emptyVersionVector
  for (const reply of r.replies.values()) if (reply.rec !== undefined) merged = vvMerge(merged, stateContext(reply.rec.state))
  const missing = unsatisfiedNodes(requirement, merged, new Set(r.replies.keys()))
  if (missing.length > 0) return { ok: false, tooFew: false, problem: `the replicas that answered lack writes of the session's past issued by ${missing.join(', ')}, which did not answer` }
  if (freshNeeded !== undefined && !pl.primaries.some(p => (r.replies.get(p)?.fresh ?? -Infinity) >= freshNeeded)) {
    return { ok: false, tooFew: false, problem: 'no primary that answered could show it holds every write acknowledged before the staleness bound' }
  }
  return { ok: true, tooFew: false, problem: '' }
}

function mergeAll (r: Round, pl: KeyPlacement): ReplicaRecord | undefined {
  let merged: ReplicaRecord | undefined
  for (const reply of r.replies.values()) {
    if (reply.rec === undefined) continue
    merged = merged === undefined ? reply.rec : mergeRecords(merged, reply.rec)
  }
  return merged === undefined ? undefined : mergeRecords(emptyRecord(pl.merge), merged)
}

/**
 * Read repair, off the caller's path: once the round's remaining answers are in (or the deadline
 * passed), every primary that answered with less than the merge of all answers, and every other
 * node that answered with a stale copy, is sent the merge.
 */
function repairLater (ctx: CoordinatorContext, key: string, pl: KeyPlacement, r: Round, changed: ChangeSignal, deadline: Deadline): void {
  ctx.background('read-repair', async () => {
    while (r.pending > 0 && !deadline.expired) {
      await Promise.race([changed.wait(), new Promise<void>(resolve => { deadline.signal.addEventListener('abort', () => { resolve() }, { once: true }) })])
    }
    const merged = mergeAll(r, pl)
    if (merged === undefined) return
    const target = stateContext(merged.state)
    for (const [node, reply] of r.replies) {
      const has = reply.rec === undefined ? undefined : stateContext(reply.rec.state)
      if (has !== undefined && vvEqual(has, target)) continue
      if (has === undefined && !pl.primaries.includes(node)) continue
      ctx.metrics.readRepairs.inc()
      if (node === ctx.node) {
        await ctx.store.update(key, pl.merge, current => ({ record: current === undefined ? merged : mergeRecords(current, merged), result: undefined }))
        continue
      }
      await ctx.peers.replicate(node, key, merged, undefined, ctx.peerRequestTimeoutMs, true).then(
        () => { ctx.health.answered(node) },
        (err: unknown) => { if (peerUnreachable(err)) ctx.health.failed(node) }
      )
    }
  })
}
