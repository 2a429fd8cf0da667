import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ConflictError, InvalidArgumentError } from '../../src/api/errors.js'
import { dvvEmpty } from '../../src/clock/dvv.js'
import { mvDelete, mvMerge, mvPut, mvRead, mvSiblingCount, mvWrite, type MvRegister } from '../../src/merge/mv.js'
import { dvvOpArb, expectedSiblings, fullSync, runDvv } from '../clock/dvv-harness.js'
import { expectSameState, assertMergeLawsOnReachableStates } from './laws.js'

const roomy = { siblingsWarn: 1_000, siblingsMax: 1_000 }
const mvEvent = (reg: MvRegister<string>, context: MvRegister<string>['context'], node: string, write: { tombstone: false, value: string } | { tombstone: true }): MvRegister<string> =>
  mvWrite(reg, { context, node, write }, roomy).register

function blindWrites (count: number): MvRegister<string> {
  let reg = dvvEmpty<string>()
  for (let i = 0; i < count; i++) reg = mvMerge(reg, mvPut(dvvEmpty<string>(), {}, `n${i}`, `v${i}`, roomy).register)
  return reg
}

describe('MV register', () => {
  it('keeps concurrent writes as siblings and returns them with one context', () => {
    const reg = blindWrites(3)
    const read = mvRead(reg)
    expect(read.values).toEqual(['v0', 'v1', 'v2'])
    expect(read.context).toEqual({ n0: 1, n1: 1, n2: 1 })
    expect(read.deleted).toBe(false)
    const resolved = mvPut(reg, read.context, 'n0', 'merged', roomy)
    expect(resolved.superseded).toBe(3)
    expect(mvRead(resolved.register).values).toEqual(['merged'])
  })

  it('warns at siblingsWarn', () => {
    const limits = { siblingsWarn: 3, siblingsMax: 10 }
    const reg = blindWrites(1)
    expect(mvPut(reg, {}, 'x', 'a', limits)).toMatchObject({ siblings: 2, warn: false })
    expect(mvPut(blindWrites(2), {}, 'x', 'a', limits)).toMatchObject({ siblings: 3, warn: true })
  })

  it('refuses a blind write past siblingsMax and changes nothing', () => {
    const limits = { siblingsWarn: 2, siblingsMax: 3 }
    const reg = blindWrites(3)
    expect(() => mvPut(reg, {}, 'x', 'one too many', limits)).toThrow(ConflictError)
    expect(() => mvDelete(reg, {}, 'x', limits)).toThrow(ConflictError)
    // A stale context that supersedes none of the current siblings counts as blind.
    expect(() => mvPut(reg, { someone: 1 }, 'x', 'stale', limits)).toThrow(ConflictError)
    expect(mvSiblingCount(reg)).toBe(3)
  })

  it('accepts a write that supersedes a sibling even past siblingsMax, so siblings can be resolved', () => {
    const limits = { siblingsWarn: 2, siblingsMax: 3 }
    const reg = blindWrites(5) // merges are never refused
    expect(mvSiblingCount(reg)).toBe(5)
    const partial = mvPut(reg, { n0: 1 }, 'n0', 'resolves one', limits)
    expect(partial).toMatchObject({ siblings: 5, superseded: 1, warn: true })
    const all = mvPut(reg, mvRead(reg).context, 'n0', 'resolves all', limits)
    expect(all).toMatchObject({ siblings: 1, superseded: 5, warn: false })
  })

  it('a delete with the read context leaves the key deleted', () => {
    const reg = blindWrites(2)
    const del = mvDelete(reg, mvRead(reg).context, 'n1', roomy).register
    expect(mvRead(del)).toMatchObject({ values: [], deleted: true, siblings: 1 })
  })

  it('refuses invalid limits', () => {
    expect(() => mvPut(dvvEmpty<string>(), {}, 'a', 'x', { siblingsWarn: 0, siblingsMax: 1 })).toThrow(InvalidArgumentError)
  })

  const scheduleArb = fc.array(dvvOpArb(3), { maxLength: 40 })

  it('replicas converge on the writes nobody superseded, under any schedule', () => {
    fc.assert(fc.property(scheduleArb, (ops) => {
      const run = runDvv(ops, 3, mvEvent, mvMerge)
      const synced = fullSync(run.replicas, mvMerge)
      for (const r of synced) expectSameState(r, synced[0])
      expect((synced[0] as MvRegister<string>).siblings).toEqual(expectedSiblings(run.writes))
    }), { numRuns: 150 })
  })

  it('merge is commutative, associative and idempotent, in any delivery order', () => {
    assertMergeLawsOnReachableStates(scheduleArb, ops => runDvv(ops, 3, mvEvent, mvMerge).snapshots, mvMerge, 150)
  })
})
