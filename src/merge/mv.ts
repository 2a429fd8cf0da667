import { ConflictError, InvalidArgumentError } from '../api/errors.js'
import { dvvEvent, dvvSync, dvvValues, dvvIsDeleted, type DvvEventOptions, type DvvSet, type DvvWrite } from '../clock/dvv.js'
import { vvCovers, type VersionVector } from '../clock/version-vector.js'

/**
 * Multi-value register: concurrent writes are all kept as siblings until a client reads them and
 * writes back with their context. A thin layer over the DVV set that adds the sibling limits of
 * the `mv` collections (config limits.siblingsWarn, limits.siblingsMax).
 */
export type MvRegister<T> = DvvSet<T>

export interface MvLimits {
  /** At or above this many siblings the result says `warn`; the caller logs it. */
  siblingsWarn: number
  /** A write that supersedes nothing is refused (ConflictError) when it would leave more siblings than this. */
  siblingsMax: number
}

export interface MvWrite<T> {
  /** The context from the client's read; empty for a blind write. */
  context: VersionVector
  /** The coordinating node, whose stored state is the register given. */
  node: string
  write: DvvWrite<T>
}

export interface MvWriteResult<T> {
  register: MvRegister<T>
  /** Siblings left, tombstones included. */
  siblings: number
  /** Siblings the write superseded. */
  superseded: number
  warn: boolean
}

export interface MvReadResult<T> {
  /** Live values, tombstones left out. */
  values: T[]
  /** Pass back (encoded with encodeContext) on the next write to supersede what was read. */
  context: VersionVector
  /** The key was written and every surviving sibling is a delete. */
  deleted: boolean
  /** Siblings, tombstones included. */
  siblings: number
}

/**
 * Applies a client's write (value or tombstone). Throws ConflictError, changing nothing, when the
 * write supersedes no sibling and would leave more than siblingsMax: that client has not read
 * the key (or read it long ago) and must resolve the siblings first. A write that supersedes at
 * least one sibling never adds to the count, so it is always accepted: that is how siblings get
 * resolved. Merges (mvMerge) are never refused, since refusing one would lose writes.
 */
export function mvWrite<T> (reg: MvRegister<T>, w: MvWrite<T>, limits: MvLimits, options?: DvvEventOptions): MvWriteResult<T> {
  checkLimits(limits)
  const superseded = reg.siblings.filter(s => vvCovers(w.context, s)).length
  const after = reg.siblings.length - superseded + 1
  if (superseded === 0 && after > limits.siblingsMax) {
    throw new ConflictError(
      `the key has ${reg.siblings.length} concurrent values (limit ${limits.siblingsMax}): read it, resolve the values and write with the context of that read`,
      { siblings: reg.siblings.length, siblingsMax: limits.siblingsMax }
    )
  }
  const register = dvvEvent(reg, w.context, w.node, w.write, options)
  return { register, siblings: register.siblings.length, superseded, warn: register.siblings.length >= limits.siblingsWarn }
}

export function mvPut<T> (reg: MvRegister<T>, context: VersionVector, node: string, value: T, limits: MvLimits, options?: DvvEventOptions): MvWriteResult<T> {
  return mvWrite(reg, { context, node, write: { tombstone: false, value } }, limits, options)
}

export function mvDelete<T> (reg: MvRegister<T>, context: VersionVector, node: string, limits: MvLimits, options?: DvvEventOptions): MvWriteResult<T> {
  return mvWrite(reg, { context, node, write: { tombstone: true } }, limits, options)
}

/** Merges two replicas' registers (DVV sync); never refused. Check `mvSiblingCount` afterwards to warn. */
export function mvMerge<T> (a: MvRegister<T>, b: MvRegister<T>): MvRegister<T> {
  return dvvSync(a, b)
}

export function mvSiblingCount<T> (reg: MvRegister<T>): number {
  return reg.siblings.length
}

export function mvRead<T> (reg: MvRegister<T>): MvReadResult<T> {
  return { values: dvvValues(reg), context: reg.context, deleted: dvvIsDeleted(reg), siblings: reg.siblings.length }
}

function checkLimits (limits: MvLimits): void {
  for (const name of ['siblingsWarn', 'siblingsMax'] as const) {
    const v = limits[name]
    if (!Number.isSafeInteger(v) || v < 1) throw new InvalidArgumentError(`${name} must be a positive integer`, { [name]: v })
  }
}
