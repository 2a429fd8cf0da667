/**
 * The consistency level a call asks for. Every call accepts every level; what each one
 * guarantees on each collection mode is in docs/consistency.md and ADR 0001.
 */
export const ConsistencyLevel = Object.freeze({
  Strong: 'strong',
  BoundedStaleness: 'bounded',
  ReadYourWrites: 'read-your-writes',
  Causal: 'causal',
  Eventual: 'eventual'
} as const)

export type ConsistencyLevel = (typeof ConsistencyLevel)[keyof typeof ConsistencyLevel]

export const consistencyLevels: readonly ConsistencyLevel[] = Object.freeze(Object.values(ConsistencyLevel))

export function isConsistencyLevel (value: unknown): value is ConsistencyLevel {
  return typeof value === 'string' && (consistencyLevels as readonly string[]).includes(value)
}

/** Higher is stronger. A call may relax a collection's default level; it never needs to strengthen it. */
export const consistencyRank: Readonly<Record<ConsistencyLevel, number>> = Object.freeze({
  eventual: 0,
  bounded: 1,
  'read-your-writes': 2,
  causal: 3,
  strong: 4
})
