import { ConsistencyLevel } from '../api/consistency.js'
import { InvalidArgumentError, PreconditionFailedError, QuorumUnavailableError } from '../api/errors.js'
import { hlcToString, maxHlc, type Hlc } from '../clock/hlc.js'
import { emptyVersionVector, vvMerge, type VersionVector } from '../clock/version-vector.js'
import { forwardAttemptsMax } from './constants.js'
import { mayForwardAgain, peerUnreachable, type CoordinatorContext, type KeyPlacement } from './context.js'
import { ChangeSignal, type Deadline } from './deadline.js'
import type { WriteOp, WriteOutcome } from './messages.js'
import { coordinateRead } from './read-path.js'
import {
  applyIncrement, applyOrsetAdd, applyOrsetRemove, applyRegisterWrite, emptyRecord, isDeletedState, mergeRecords, stateContext,
  contextDigest, stateDigest, stateHlc, withAppliedOp, type ReplicaRecord
} from './record.js'
import { pncounterValue } from '../merge/pncounter.js'
import { joinSessions, observeHlc, observeKey } from './session.js'

/**
 * The write path. A write is coordinated by a replica of its key, because the coordinator issues
 * the write's dot from its own stored state (dvv.ts): a node that is not a primary forwards the
 * write to the first usable primary, or, when none is usable, to the first usable fallback (or
 * coordinates it itself as one). The coordinator:
 *
 * 1. (ifMatch, or an or-set remove) reads `r` replicas and merges what they hold into its state;
 * 2. under the key's lock, applies the write to its stored state and writes, in one synced batch,
 *    the new state and a hint for every other primary (the durable outbox);
 * 3. sends the whole new state to the other primaries, and for each primary that is down or fails,
 *    to the next fallback with `hintFor` (sloppy quorum: the fallback keeps a hint and hands the
 *    state back later);
 * 4. answers once `w` replicas (itself included) hold the state durably, `pw` of them primaries;
 *    the other sends continue in the background, and every primary's acknowledgement clears the
 *    coordinator's hint for it. `eventual` writes use w = 1: the coordinator's own synced copy.
 *
 * Fewer than `w` acknowledgements: QuorumUnavailableError (or TimeoutError at the deadline); the
 * write stays on the replicas that took it and spreads from there: its outcome is unknown.
 */
export async function executeWrite (ctx: CoordinatorContext, op: WriteOp, deadline: Deadline): Promise<WriteOutcome> {
  const pl = ctx.placement(op.key)
  checkKind(op, pl)
  if (pl.primaries.includes(ctx.node)) return await coordinateWrite(ctx, op, pl, deadline)
  return await forwardWrite(ctx, op, pl, deadline)
}

/** Coordinates a write forwarded by a peer here, without forwarding it again. */
export async function coordinateForwarded (ctx: CoordinatorContext, op: WriteOp, deadline: Deadline): Promise<WriteOutcome> {
  const pl = ctx.placement(op.key)
  checkKind(op, pl)
  return await coordinateWrite(ctx, op, pl, deadline)
}

async function forwardWrite (ctx: CoordinatorContext, op: WriteOp, pl: KeyPlacement, deadline: Deadline): Promise<WriteOutcome> {
  // Unique across restarts (the node-wide sequence), the same for every attempt of this write.
  op = { ...op, id: `${ctx.node}/${await ctx.store.nextSeq()}` }
  const candidates = [...pl.primaries, ...pl.fallbacks].filter(n => ctx.health.usable(n))
  let lastError: unknown
  for (let attempt = 0; attempt < forwardAttemptsMax; attempt++) {
    const to = candidates.shift()
    if (to === undefined) break
    if (to === ctx.node) return await coordinateWrite(ctx, op, pl, deadline)
    try {
      // Leave the forwarded coordinator a margin to answer before our own deadline passes.
      const timeoutMs = Math.max(1, Math.floor(deadline.remainingMs() * 0.9))
      const outcome = await deadline.race(ctx.peers.coordinate(to, op, timeoutMs, deadline.signal))
      ctx.health.answered(to)
      return outcome
    } catch (err) {
      if (!mayForwardAgain(err, op.kind !== 'increment')) throw err
      ctx.health.failed(to)
      lastError = err
    }
  }
  ctx.metrics.quorumUnavailable.inc({ op: op.kind })
  throw new QuorumUnavailableError(`no replica of "${op.key}" could be reached to coordinate the write; nothing was written`, { key: op.key }, { cause: lastError })
}

function checkKind (op: WriteOp, pl: KeyPlacement): void {
  const fits = (op.kind === 'put' || op.kind === 'delete') ? (pl.merge === 'lww' || pl.merge === 'mv')
    : op.kind === 'increment' ? pl.merge === 'counter' : pl.merge === 'orset'
  if (!fits) {
    const what = pl.merge === 'counter' ? 'use increment' : pl.merge === 'orset' ? 'use orsetAdd and orsetRemove' : 'use put and delete'
    throw new InvalidArgumentError(`collection "${pl.collection}" merges by ${pl.merge}, which does not support ${op.kind}: ${what}`, { collection: pl.collection, merge: pl.merge, op: op.kind })
  }
}

async function coordinateWrite (ctx: CoordinatorContext, op: WriteOp, pl: KeyPlacement, deadline: Deadline): Promise<WriteOutcome> {
  let observed: ReplicaRecord | undefined
  if (op.ifMatch !== undefined || op.kind === 'remove') {
    const read = await coordinateRead(ctx, op.key, { level: ConsistencyLevel.Eventual, r: pl.r, pr: 0, session: op.session }, deadline)
    observed = read.record
    if (op.ifMatch !== undefined) {
      const current = observed === undefined || isDeletedState(observed.state) ? undefined : etagOf(observed)
      if (current !== op.ifMatch) {
        throw new PreconditionFailedError(`the etag of "${op.key}" is no longer ${op.ifMatch}: read it again and decide`, { key: op.key })
      }
    }
  }
  const sessionBound = op.level === ConsistencyLevel.Causal || op.level === ConsistencyLevel.ReadYourWrites
  const seq = await ctx.store.nextSeq()
  const hintTargets = pl.primaries.filter(p => p !== ctx.node)
  const applied = await ctx.store.update(op.key, pl.merge, (current) => {
    if (op.id !== undefined && current?.applied?.includes(op.id) === true) {
      // A duplicate of a forwarded write already applied here: answer again, apply nothing.
      return { result: { record: current, hlc: stateHlc(current.state), warn: false, siblings: 0 } }
    }
    let base = current ?? emptyRecord(pl.merge)
    if (observed !== undefined) base = mergeRecords(base, observed)
    let state = base.state
    let hlc: Hlc | undefined
    let warn = false
    let siblings = 0
    switch (op.kind) {
      case 'put': case 'delete': {
        if (pl.merge === 'lww') hlc = stampLww(ctx, stateHlc(base.state), sessionBound ? op.session.hlc : undefined)
        let context: VersionVector = op.context ?? emptyVersionVector
        if (op.ifMatch !== undefined && observed !== undefined) context = vvMerge(context, stateContext(observed.state))
        const w = applyRegisterWrite(state, { node: ctx.node, seq, context, ...(hlc !== undefined ? { hlc } : {}), value: op.kind === 'put' ? op.value as Uint8Array : null }, ctx.limits)
        state = w.state
        warn = w.warn
        siblings = w.siblings
        break
      }
      case 'increment': state = applyIncrement(state, ctx.node, seq, op.delta as number); break
      case 'add': state = applyOrsetAdd(state, ctx.node, seq, op.element as string); break
      case 'remove': state = applyOrsetRemove(state, ctx.node, seq, op.element as string); break
    }
    // A causal write carries its session's past, so that whoever reads it inherits that past.
    const deps = op.level === ConsistencyLevel.Causal ? joinSessions(base.deps, op.session) : base.deps
    const record: ReplicaRecord = withAppliedOp({ state, deps, ...(base.applied !== undefined ? { applied: base.applied } : {}) }, op.id)
    return { record, hintTargets, result: { record, hlc, warn, siblings } }
  })
  if (applied.warn) {
    ctx.metrics.siblingsWarned.inc()
    ctx.logger?.warn({ event: 'siblings_warn', key: op.key, siblings: applied.siblings }, 'a key has many concurrent values: read it and write back with its context to resolve them')
  }
  const acked = await replicate(ctx, op, pl, applied.record, deadline)
  let session = observeKey(op.session, op.key, acked)
  session = observeHlc(session, applied.hlc)
  const version = applied.hlc !== undefined ? hlcToString(applied.hlc) : stateDigest(applied.record.state)
  const out: WriteOutcome = { ctx: acked, version, session }
  if (applied.record.state.merge === 'counter') out.value = pncounterValue(applied.record.state.counter)
  return out
}

/** The etag of a merged state: a digest of its context (equal states, equal etags). */
export function etagOf (record: ReplicaRecord): string {
  return etagOfContext(stateContext(record.state))
}

export function etagOfContext (ctx: VersionVector): string {
  return `q${contextDigest(ctx)}`
}

/**
 * A timestamp for an lww write greater than the stored winner and, for session-bound levels,
 * than every lww version the session saw. A timestamp beyond the clock's drift bound refuses the
 * write (ClockDriftError): stamped lower it would be discarded at once, silently.
 */
function stampLww (ctx: CoordinatorContext, stored: Hlc | undefined, session: Hlc | undefined): Hlc {
  const floor = stored === undefined ? session : session === undefined ? stored : maxHlc(stored, session)
  return floor === undefined ? ctx.clock.now() : ctx.clock.update(floor)
}

interface Slot {
  primary: string
  done: boolean
}

/**
 * Steps 3 and 4: sends the state and waits for `w` acknowledgements. Resolves with the merged
 * context of the acknowledging replicas; the sends still in flight finish in the background.
 */
async function replicate (ctx: CoordinatorContext, op: WriteOp, pl: KeyPlacement, record: ReplicaRecord, deadline: Deadline): Promise<VersionVector> {
  const n = pl.primaries.length
  const w = Math.min(op.w, n)
  const pw = Math.min(op.pw, n)
  let acks = 1
  let primaryAcks = pl.primaries.includes(ctx.node) ? 1 : 0
  let ackedCtx = stateContext(record.state)
  let inFlight = 0
  const changed = new ChangeSignal()
  const used = new Set<string>([ctx.node])
  const spare = pl.fallbacks.filter(f => f !== ctx.node)
  const slots: Slot[] = pl.primaries.filter(p => p !== ctx.node).map(primary => ({ primary, done: false }))

  const send = (slot: Slot, to: string): void => {
    used.add(to)
    inFlight++
    const hintFor = to === slot.primary ? undefined : slot.primary
    // A copy sent once the write has its acknowledgements (every copy of an eventual write) is
    // background work: it yields to copies that writes still wait for.
    const background = acks >= w && primaryAcks >= pw
    ctx.peers.replicate(to, op.key, record, hintFor, ctx.peerRequestTimeoutMs, background).then(
      (theirs) => {
        ctx.health.answered(to)
        slot.done = true
        acks++
        ackedCtx = vvMerge(ackedCtx, theirs)
        if (to === slot.primary) {
          primaryAcks++
          ctx.store.clearHintSoon(op.key, to, theirs)
        }
      },
      (err: unknown) => {
        if (peerUnreachable(err)) ctx.health.failed(to)
        substitute(slot)
      }
    ).finally(() => { inFlight--; changed.notify() })
  }
  const substitute = (slot: Slot): void => {
    while (spare.length > 0) {
      const f = spare.shift() as string
      if (used.has(f) || !ctx.health.usable(f)) continue
      send(slot, f)
      return
    }
    slot.done = true
  }
  for (const slot of slots) {
    if (ctx.health.usable(slot.primary)) send(slot, slot.primary)
    else substitute(slot)
  }
  while (true) {
    if (acks >= w && primaryAcks >= pw) return ackedCtx
    if (inFlight === 0) {
      ctx.metrics.quorumUnavailable.inc({ op: op.kind })
      throw new QuorumUnavailableError(
        `only ${acks} of the ${w} replicas a write of "${op.key}" needs acknowledged it${pw > 0 ? ` (${primaryAcks} of ${pw} primaries)` : ''}; the write may still spread from those that took it`,
        { key: op.key, w, pw, acks, primaryAcks }
      )
    }
    await deadline.race(changed.wait())
  }
}
