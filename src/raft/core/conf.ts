import { InvalidArgumentError, ProtocolError } from '../../api/errors.js'
import { decodeUntrusted, encode } from '../../codec/msgpack.js'
import { invariant } from './assert.js'
import type { ConfState, NodeId } from './types.js'

/**
 * Membership uses the single-server-change rule of Ongaro's dissertation (§4.1–4.3), with
 * append-time semantics: a node uses the latest configuration in its log, committed or not, and
 * reverts when that entry is truncated. Each change adds or removes at most one voter, so any
 * majority of the old and of the new voter set intersect. The known flaw of that rule (a change
 * proposed by a new leader before it committed an entry of its term can lose a committed change)
 * is closed as the dissertation's erratum says: the leader accepts a change only once an entry of
 * its own term is committed, and only when no earlier change is uncommitted.
 *
 * Voters join only as learners and are promoted once caught up: adding an empty voter would cut
 * availability (it counts toward the quorum before it holds the log).
 */
export type ConfChangeType = 'add-learner' | 'promote' | 'demote' | 'remove'

export interface ConfChange {
  type: ConfChangeType
  node: NodeId
  /** Opaque bytes for the driver (for example the new member's addresses); not read by the core. */
  context?: Uint8Array
}

/** What a `conf` entry's data decodes to. */
export interface ConfEntryData {
  /** The whole configuration after the change. */
  conf: ConfState
  change: { type: ConfChangeType, node: NodeId }
  context: Uint8Array | null
}

const changeTypes: readonly string[] = ['add-learner', 'promote', 'demote', 'remove']

export function encodeConfEntry (data: ConfEntryData): Uint8Array {
  return encode({ conf: data.conf, change: data.change, context: data.context })
}

/** Decodes a `conf` entry's data; throws ProtocolError when it is malformed. */
export function decodeConfEntry (bytes: Uint8Array): ConfEntryData {
  const raw = decodeUntrusted(bytes)
  if (typeof raw !== 'object' || raw === null) throw new ProtocolError('conf entry is not an object')
  const obj = raw as Record<string, unknown>
  const conf = parseConfState(obj.conf)
  const change = obj.change as Record<string, unknown> | null
  if (typeof change !== 'object' || change === null || typeof change.type !== 'string' || !changeTypes.includes(change.type) || typeof change.node !== 'string') {
    throw new ProtocolError('conf entry has an invalid change')
  }
  const context = obj.context
  if (context !== null && context !== undefined && !(context instanceof Uint8Array)) throw new ProtocolError('conf entry context must be bytes')
  return { conf, change: { type: change.type as ConfChangeType, node: change.node }, context: context ?? null }
}

const idCharsMax = 128
const membersMax = 256

function parseIds (value: unknown, field: string): NodeId[] {
  if (!Array.isArray(value) || value.length > membersMax) throw new ProtocolError(`${field} must be an array of at most ${membersMax} ids`, { field })
  const out: NodeId[] = []
  for (const id of value) {
    if (typeof id !== 'string' || id.length === 0 || id.length > idCharsMax) throw new ProtocolError(`${field} holds an invalid id`, { field })
    out.push(id)
  }
  return out
}

/** Validates an untrusted configuration (from a message or a conf entry). */
export function parseConfState (value: unknown, field = 'conf'): ConfState {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProtocolError(`${field} must be an object`, { field })
  const raw = value as Record<string, unknown>
  for (const key in raw) {
    if (Object.hasOwn(raw, key) && key !== 'voters' && key !== 'learners') throw new ProtocolError(`unknown field in ${field}`, { field })
  }
  const conf = { voters: parseIds(raw.voters, `${field}.voters`), learners: parseIds(raw.learners, `${field}.learners`) }
  const all = new Set<NodeId>()
  for (const id of [...conf.voters, ...conf.learners]) {
    if (all.has(id)) throw new ProtocolError(`${field} lists ${id} twice`, { field })
    all.add(id)
  }
  return conf
}

export function copyConf (conf: ConfState): ConfState {
  return { voters: [...conf.voters], learners: [...conf.learners] }
}

export function confEquals (a: ConfState, b: ConfState): boolean {
  return sameIds(a.voters, b.voters) && sameIds(a.learners, b.learners)
}

function sameIds (a: NodeId[], b: NodeId[]): boolean {
  if (a.length !== b.length) return false
  const set = new Set(a)
  return b.every((id) => set.has(id))
}

export function checkConf (conf: ConfState): void {
  const all = new Set<NodeId>()
  for (const id of [...conf.voters, ...conf.learners]) {
    invariant(!all.has(id), 'a member is listed twice in a configuration', { id })
    all.add(id)
  }
}

/**
 * The configuration after `change`, or InvalidArgumentError when the change is not allowed by
 * the single-server rule or makes no sense for the current membership.
 */
export function applyConfChange (conf: ConfState, change: ConfChange, votersMax: number): ConfState {
  const { type, node } = change
  if (typeof node !== 'string' || node.length === 0 || node.length > 128) throw new InvalidArgumentError('a membership change needs a node id of 1-128 characters')
  const isVoter = conf.voters.includes(node)
  const isLearner = conf.learners.includes(node)
  switch (type) {
    case 'add-learner':
      if (isVoter || isLearner) throw new InvalidArgumentError(`${node} is already a member`, { node })
      return { voters: [...conf.voters], learners: [...conf.learners, node] }
    case 'promote':
      if (!isLearner) throw new InvalidArgumentError(`${node} is not a learner: add it as a learner first, then promote it once it has caught up`, { node })
      if (conf.voters.length >= votersMax) throw new InvalidArgumentError(`the cluster already has ${conf.voters.length} voters (votersMax ${votersMax})`, { node })
      return { voters: [...conf.voters, node], learners: conf.learners.filter((id) => id !== node) }
    case 'demote':
      if (!isVoter) throw new InvalidArgumentError(`${node} is not a voter`, { node })
      if (conf.voters.length === 1) throw new InvalidArgumentError('cannot demote the last voter', { node })
      return { voters: conf.voters.filter((id) => id !== node), learners: [...conf.learners, node] }
    case 'remove':
      if (!isVoter && !isLearner) throw new InvalidArgumentError(`${node} is not a member`, { node })
      if (isVoter && conf.voters.length === 1) throw new InvalidArgumentError('cannot remove the last voter', { node })
      return { voters: conf.voters.filter((id) => id !== node), learners: conf.learners.filter((id) => id !== node) }
    default:
      throw new InvalidArgumentError(`unknown membership change ${String(type)}`)
  }
}

/**
 * The configurations in this node's log, so that a truncation can revert to the previous one and
 * a snapshot can name the configuration at its index. Holds the configuration at `base.index`
 * (the latest snapshot) and every conf entry after it; conf entries are rare, so a list is enough.
 */
export class ConfHistory {
  private base: { index: number, conf: ConfState }
  private changes: Array<{ index: number, conf: ConfState }> = []

  constructor (index: number, conf: ConfState) {
    checkConf(conf)
    this.base = { index, conf: copyConf(conf) }
  }

  current (): ConfState {
    return this.changes.length > 0 ? (this.changes[this.changes.length - 1] as { conf: ConfState }).conf : this.base.conf
  }

  /** Index of the latest configuration entry (or of the snapshot holding it). */
  lastIndex (): number {
    return this.changes.length > 0 ? (this.changes[this.changes.length - 1] as { index: number }).index : this.base.index
  }

  /** The oldest index this history can describe (its snapshot). */
  baseIndex (): number {
    return this.base.index
  }

  at (index: number): ConfState {
    invariant(index >= this.base.index, 'configuration asked for before the snapshot', { index, base: this.base.index })
    let conf = this.base.conf
    for (const c of this.changes) {
      if (c.index > index) break
      conf = c.conf
    }
    return conf
  }

  push (index: number, conf: ConfState): void {
    invariant(index > this.lastIndex(), 'configuration entries must be in log order', { index, last: this.lastIndex() })
    checkConf(conf)
    this.changes.push({ index, conf: copyConf(conf) })
  }

  /** Forgets configuration entries at or after `index` (the log was truncated there). */
  truncateFrom (index: number): void {
    while (this.changes.length > 0 && (this.changes[this.changes.length - 1] as { index: number }).index >= index) this.changes.pop()
  }

  reset (index: number, conf: ConfState): void {
    checkConf(conf)
    this.base = { index, conf: copyConf(conf) }
    this.changes = []
  }

  /** Folds entries at or below `index` (a new snapshot) into the base. */
  compactTo (index: number): void {
    if (index <= this.base.index) return
    const conf = this.at(index)
    this.changes = this.changes.filter((c) => c.index > index)
    this.base = { index, conf }
  }
}
