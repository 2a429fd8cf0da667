import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkCausal } from '../../chaos/checkers/causal.js'
import { build, call, read, write } from './helpers.js'
import type { Call } from './helpers.js'
import { sequentialRegisterHistory } from './register-histories.js'

const withDeps = (c: Call, deps: unknown[]): Call => ({ ...c, invokeExtra: { deps } })

describe('checkCausal', () => {
  it('a session that saw y=2, whose writer had written x=1 first, must not read x as missing', () => {
    const h = build([
      write(0, 'x', 1, 0, 1),
      write(0, 'y', 2, 2, 3),
      read(1, 'y', 2, 4, 5),
      read(1, 'x', null, 6, 7)
    ])
    const r = checkCausal(h)
    expect(r.valid).toBe(false)
    const a = r.anomalies[0]
    expect(a).toMatchObject({ kind: 'causal-read', session: 'process:1', key: 'x' })
    expect(a?.overwrittenBy?.input).toBe(1)
    expect(a?.learnedFrom?.output).toBe(2)
    expect(a?.explanation).toMatch(/initial \(missing\) value/)
  })

  it('nor read an x older than the one in the causal past of what it saw', () => {
    const h = build([
      write(2, 'x', 0, 0, 1),
      read(0, 'x', 0, 2, 3),
      write(0, 'x', 1, 4, 5),
      write(0, 'y', 2, 6, 7),
      read(1, 'y', 2, 8, 9),
      read(1, 'x', 0, 10, 11)
    ])
    const r = checkCausal(h)
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]?.kind).toBe('causal-read')
    expect(r.anomalies[0]?.dependencyChain?.map((o) => o.input)).toEqual([1, 0])
  })

  it('the value itself, or one concurrent with it, is fine', () => {
    const calls = [write(0, 'x', 1, 0, 1), write(0, 'y', 2, 2, 3), write(3, 'x', 3, 0, 20), read(1, 'y', 2, 4, 5)]
    expect(checkCausal(build([...calls, read(1, 'x', 1, 6, 7)])).valid).toBe(true)
    expect(checkCausal(build([...calls, read(1, 'x', 3, 6, 7)])).valid).toBe(true)
  })

  it('without the causal link, a missing x is allowed', () => {
    const h = build([write(0, 'x', 1, 0, 1), write(3, 'y', 2, 2, 3), read(1, 'y', 2, 4, 5), read(1, 'x', null, 6, 7)])
    expect(checkCausal(h).valid).toBe(true)
  })

  it('recorded deps carry causality the history cannot show (a token passed between processes)', () => {
    const h = build([
      write(0, 'x', 1, 0, 1),
      withDeps(write(3, 'y', 2, 2, 3), [{ key: 'x', value: 1 }]),
      read(1, 'y', 2, 4, 5),
      read(1, 'x', null, 6, 7)
    ])
    expect(checkCausal(h).valid).toBe(false)
    const bare = build([write(0, 'x', 1, 0, 1), withDeps(write(3, 'y', 2, 2, 3), [1]), read(1, 'y', 2, 4, 5), read(1, 'x', null, 6, 7)])
    expect(checkCausal(bare).valid).toBe(false)
    const unresolved = checkCausal(build([withDeps(write(3, 'y', 2, 2, 3), [{ key: 'x', value: 9 }])]))
    expect(unresolved.unresolvedDeps).toBe(1)
  })

  it('reading an own write back as missing is classified as read-your-writes', () => {
    const r = checkCausal(build([write(0, 'x', 1, 0, 1), read(0, 'x', null, 2, 3)]))
    expect(r.anomalies[0]?.kind).toBe('read-your-writes')
  })

  it('going back to an older value after reading a newer one is classified as monotonic-reads', () => {
    const h = build([write(0, 'x', 1, 0, 1), write(0, 'x', 2, 2, 3), read(1, 'x', 2, 4, 5), read(1, 'x', 1, 6, 7)])
    const r = checkCausal(h)
    expect(r.anomalies[0]?.kind).toBe('monotonic-reads')
    expect(r.anomalies[0]?.explanation).toMatch(/already observed/)
  })

  it('a read of null is fine when a delete in the context produced it', () => {
    const ok = build([write(0, 'x', 1, 0, 1), call(0, 'delete', 'x', null, 2, 3), read(1, 'x', 1, 4, 5), read(0, 'x', null, 6, 7)])
    expect(checkCausal(ok).valid).toBe(true)
    const bad = build([call(0, 'delete', 'x', null, 0, 1), write(0, 'x', 1, 2, 3), read(0, 'x', null, 4, 5)])
    expect(checkCausal(bad).valid).toBe(false)
  })

  it('reads of unwritten values and of failed writes are reported', () => {
    const r = checkCausal(build([write(0, 'x', 1, 0, 1, 'fail'), read(1, 'x', 1, 2, 3), read(1, 'x', 7, 4, 5)]))
    expect(r.anomalies.map((a) => a.kind)).toEqual(['read-of-failed-write', 'read-of-unwritten-value'])
  })

  it('a dependency cycle is reported', () => {
    const h = build([withDeps(write(0, 'x', 1, 0, 1), [{ key: 'y', value: 2 }]), withDeps(write(1, 'y', 2, 0, 1), [{ key: 'x', value: 1 }])])
    const r = checkCausal(h)
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]?.kind).toBe('causal-cycle')
    expect(r.anomalies[0]?.ops).toHaveLength(2)
  })

  it('a history over the size limit is unknown, with the reason', () => {
    const r = checkCausal(build([write(0, 'x', 1, 0, 1), write(0, 'x', 2, 2, 3)]), { writesMax: 1 })
    expect(r.valid).toBe('unknown')
    expect(r.reason).toMatch(/limited to 1/)
  })

  it('histories of a sequential register are causally consistent', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 4 }), (seed, keys) => {
      const r = checkCausal(sequentialRegisterHistory({ seed, processes: 6, keys, steps: 400 }))
      expect(r.anomalies).toEqual([])
    }), { numRuns: 100 })
  })
})
