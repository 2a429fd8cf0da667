import { showValue, valueKey } from './common.js'
import type { Anomaly, Validity } from './common.js'

/**
 * Convergence: after the faults stop and anti-entropy has had its time, every replica holds the
 * same value for every key. Input: the final state of each replica, replica → key → value, where
 * a value may be a sibling set (`{ siblings: [...] }`, from an `mv` collection). Sibling sets are
 * compared as sets (order and duplicates ignored), and a set of one sibling equals that value.
 * A key missing on a replica equals null (a deleted key reads as missing) unless
 * `missingEqualsNull` is false.
 */
export interface Siblings {
  readonly siblings: readonly unknown[]
}

export function siblings (...values: unknown[]): Siblings {
  return { siblings: values }
}

export type ReplicaState = ReadonlyMap<string, unknown> | Readonly<Record<string, unknown>>
export type ReplicaStates = ReadonlyMap<string, ReplicaState> | Readonly<Record<string, ReplicaState>>

export interface ConvergenceOptions {
  readonly missingEqualsNull?: boolean
  readonly anomaliesMax?: number
}

export interface Divergence {
  readonly key: string
  /** Replicas grouped by the value they hold, the largest group first. */
  readonly groups: ReadonlyArray<{ readonly value: unknown, readonly replicas: readonly string[] }>
}

export interface ConvergenceAnomaly extends Anomaly {
  readonly kind: 'divergent-key'
  readonly key: string
  readonly groups: Divergence['groups']
}

export interface ConvergenceResult {
  readonly valid: Validity
  readonly replicas: readonly string[]
  readonly keysCompared: number
  readonly divergentKeyCount: number
  readonly anomalyCount: number
  readonly anomalies: readonly ConvergenceAnomaly[]
}

const missing = Symbol('missing')

export function checkConvergence (states: ReplicaStates, options: ConvergenceOptions = {}): ConvergenceResult {
  const missingEqualsNull = options.missingEqualsNull ?? true
  const max = options.anomaliesMax ?? 100
  const replicas = entries(states)
  const names = replicas.map(([name]) => name)
  const maps = replicas.map(([, state]) => new Map(entries(state)))
  const keys = new Set<string>()
  for (const m of maps) for (const k of m.keys()) keys.add(k)

  const anomalies: ConvergenceAnomaly[] = []
  let divergentKeyCount = 0
  for (const key of [...keys].sort()) {
    const groups = new Map<string, { value: unknown, replicas: string[] }>()
    maps.forEach((m, i) => {
      const value = m.has(key) ? m.get(key) : missing
      const canonical = canonicalOf(value, missingEqualsNull)
      const g = groups.get(canonical)
      if (g === undefined) groups.set(canonical, { value: value === missing ? undefined : value, replicas: [names[i] as string] })
      else g.replicas.push(names[i] as string)
    })
    if (groups.size <= 1) continue
    divergentKeyCount++
    if (anomalies.length >= max) continue
    const list = [...groups.values()].sort((a, b) => b.replicas.length - a.replicas.length)
    anomalies.push({
      kind: 'divergent-key',
      key,
      groups: list,
      ops: [],
      explanation: `replicas disagree on key ${JSON.stringify(key)}: ${list.map((g) => `${g.replicas.join(', ')} ${g.replicas.length === 1 ? 'holds' : 'hold'} ${describe(g.value)}`).join('; ')}.`
    })
  }
  return {
    valid: divergentKeyCount === 0,
    replicas: names,
    keysCompared: keys.size,
    divergentKeyCount,
    anomalyCount: divergentKeyCount,
    anomalies
  }
}

function isSiblings (value: unknown): value is Siblings {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Array.isArray((value as Partial<Siblings>).siblings) && Object.keys(value).length === 1
}

function canonicalOf (value: unknown, missingEqualsNull: boolean): string {
  if (value === missing) return missingEqualsNull ? 'null' : 'missing'
  if (isSiblings(value)) {
    const members = [...new Set(value.siblings.map(valueKey))].sort()
    return members.length === 1 ? members[0] as string : `siblings{${members.join(',')}}`
  }
  return valueKey(value)
}

function describe (value: unknown): string {
  if (value === undefined) return 'no value'
  if (isSiblings(value)) return `siblings {${value.siblings.map(showValue).join(', ')}}`
  return showValue(value)
}

function entries<V> (source: ReadonlyMap<string, V> | Readonly<Record<string, V>>): Array<[string, V]> {
  return source instanceof Map ? [...(source as ReadonlyMap<string, V>).entries()] : Object.entries(source as Readonly<Record<string, V>>)
}
