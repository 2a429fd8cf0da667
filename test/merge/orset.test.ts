import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError, ProtocolError } from '../../src/api/errors.js'
import { decode, encode } from '../../src/codec/msgpack.js'
import { compareCodePoints } from '../../src/clock/node-id.js'
import { compareDots, vvGet, type Dot } from '../../src/clock/version-vector.js'
import { emptyOrSet, orsetAdd, orsetHas, orsetMembers, orsetMerge, orsetRemove, parseOrSet, type OrSet } from '../../src/merge/orset.js'
import { expectSameState, assertMergeLawsOnReachableStates } from './laws.js'

const nodes = ['a', 'b', '\u{10000}']
const elements = ['x', 'y', '\uffff', '\u{10000}']

type Op =
  | { kind: 'add' | 'remove', at: number, element: string }
  | { kind: 'sync', from: number, to: number }
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constantFrom('add' as const, 'remove' as const), at: fc.nat(2), element: fc.constantFrom(...elements) }),
  fc.record({ kind: fc.constant('sync' as const), from: fc.nat(2), to: fc.nat(2) })
)

interface Run {
  replicas: OrSet[]
  snapshots: OrSet[]
  adds: Array<{ element: string, dot: Dot }>
  /** Dots each add or remove of an element saw at its replica: it supersedes exactly these. */
  observed: Set<string>
}

const key = (d: Dot): string => `${d.node}/${d.counter}`

function run (ops: readonly Op[]): Run {
  const replicas: OrSet[] = nodes.map(() => emptyOrSet)
  const snapshots: OrSet[] = [emptyOrSet]
  const adds: Run['adds'] = []
  const observed = new Set<string>()
  for (const op of ops) {
    if (op.kind === 'sync') {
      replicas[op.to] = orsetMerge(replicas[op.to] as OrSet, replicas[op.from] as OrSet)
      snapshots.push(replicas[op.to] as OrSet)
    } else {
      const before = replicas[op.at] as OrSet
      for (const d of before.entries.find(e => e.element === op.element)?.dots ?? []) observed.add(key(d))
      if (op.kind === 'add') {
        const node = nodes[op.at] as string
        replicas[op.at] = orsetAdd(before, node, op.element)
        adds.push({ element: op.element, dot: { node, counter: vvGet((replicas[op.at] as OrSet).context, node) } })
      } else {
        replicas[op.at] = orsetRemove(before, op.element)
      }
      snapshots.push(replicas[op.at] as OrSet)
    }
  }
  return { replicas, snapshots, adds, observed }
}

const scheduleArb = fc.array(opArb, { maxLength: 40 })

describe('OR-set', () => {
  it('add then remove at the same replica removes the element', () => {
    const s = orsetRemove(orsetAdd(emptyOrSet, 'a', 'x'), 'x')
    expect(orsetHas(s, 'x')).toBe(false)
    expect(s.entries).toEqual([]) // no tombstone: only the context remembers the add
    expect(s.context).toEqual({ a: 1 })
  })

  it('an add concurrent with a remove wins', () => {
    const base = orsetAdd(emptyOrSet, 'a', 'x')
    const removed = orsetRemove(base, 'x')
    const readded = orsetAdd(base, 'b', 'x') // b had seen the first add, not the remove
    expect(orsetMembers(orsetMerge(removed, readded))).toEqual(['x'])
    expect(orsetMembers(orsetMerge(readded, removed))).toEqual(['x'])
  })

  it('a remove deletes the adds it observed, also at replicas that still hold them', () => {
    const a = orsetAdd(emptyOrSet, 'a', 'x')
    const b = orsetRemove(orsetMerge(emptyOrSet, a), 'x')
    expect(orsetMembers(orsetMerge(a, b))).toEqual([])
    // An add the remove had not observed survives.
    const other = orsetAdd(emptyOrSet, '\u{10000}', 'x')
    expect(orsetMembers(orsetMerge(orsetMerge(a, other), b))).toEqual(['x'])
  })

  it('re-adding keeps one dot per concurrent add', () => {
    let s = emptyOrSet
    for (let i = 0; i < 5; i++) s = orsetAdd(s, 'a', 'x')
    expect(s.entries).toEqual([{ element: 'x', dots: [{ node: 'a', counter: 5 }] }])
  })

  it('lists members in code point order', () => {
    let s = emptyOrSet
    for (const e of ['\u{10000}', '\uffff', 'b', 'a']) s = orsetAdd(s, 'n', e)
    expect(orsetMembers(s)).toEqual(['a', 'b', '\uffff', '\u{10000}'])
  })

  it('refuses elements that would not survive encoding', () => {
    expect(() => orsetAdd(emptyOrSet, 'a', 'x\ud800')).toThrow(InvalidArgumentError)
    expect(() => orsetAdd(emptyOrSet, 'a', 3 as unknown as string)).toThrow(InvalidArgumentError)
  })

  it('after any schedule and a full merge, exactly the adds no later add or remove observed survive', () => {
    fc.assert(fc.property(scheduleArb, (ops) => {
      const r = run(ops)
      const all = r.replicas.reduce(orsetMerge)
      for (const rep of r.replicas) expectSameState(orsetMerge(rep, all), all)
      const expected = new Map<string, Dot[]>()
      for (const add of r.adds) {
        if (r.observed.has(key(add.dot))) continue
        expected.set(add.element, [...(expected.get(add.element) ?? []), add.dot])
      }
      const expectedEntries = [...expected.entries()]
        .map(([element, dots]) => ({ element, dots: dots.sort(compareDots) }))
        .sort((x, y) => compareCodePoints(x.element, y.element))
      expect(all.entries).toEqual(expectedEntries)
    }), { numRuns: 300 })
  })

  it('merge is commutative, associative and idempotent, in any delivery order', () => {
    assertMergeLawsOnReachableStates(scheduleArb, ops => run(ops).snapshots, orsetMerge, 200)
  })

  it('parse round-trips through msgpack and refuses broken invariants', () => {
    const s = orsetMerge(orsetAdd(emptyOrSet, 'a', 'x'), orsetAdd(orsetAdd(emptyOrSet, 'b', 'y'), 'b', 'x'))
    expect(parseOrSet(decode(encode(s)))).toEqual(s)
    const bad: unknown[] = [
      null,
      { context: {}, entries: {} },
      { context: { a: 1 }, entries: [{ element: 'x', dots: [] }] },
      { context: { a: 1 }, entries: [{ element: 'x', dots: [{ node: 'a', counter: 2 }] }] },
      { context: { a: 1 }, entries: [{ element: 'x', dots: [{ node: 'a', counter: 1 }] }, { element: 'x', dots: [{ node: 'a', counter: 1 }] }] },
      { context: { a: 1 }, entries: [{ element: 'x', dots: [{ node: 'a', counter: 1 }] }, { element: 'y', dots: [{ node: 'a', counter: 1 }] }] }
    ]
    for (const b of bad) expect(() => parseOrSet(b)).toThrow(ProtocolError)
  })
})
