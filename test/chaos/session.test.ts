import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkSessions } from '../../chaos/checkers/session.js'
import { operationsOf } from '../../chaos/history.js'
import { build, call, read, write } from './helpers.js'
import type { Call } from './helpers.js'
import { sequentialRegisterHistory } from './register-histories.js'

const versioned = (c: Call, version: unknown): Call => ({ ...c, completeExtra: { ...(c.completeExtra ?? {}), version } })
const inSession = (c: Call, session: string): Call => ({ ...c, invokeExtra: { session } })

describe('checkSessions: read-your-writes', () => {
  it('a session reading its own older write after a newer one violates RYW (by version)', () => {
    const h = build([
      versioned(write(0, 'x', 'a', 0, 1), 1),
      versioned(write(0, 'x', 'b', 2, 3), 2),
      versioned(read(0, 'x', 'a', 4, 5), 1)
    ])
    const r = checkSessions(h)
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]).toMatchObject({ kind: 'read-your-writes', session: 'process:0', key: 'x', decidedBy: 'version', readVersion: 1, referenceVersion: 2 })
    expect(r.anomalies[0]?.reference.input).toBe('b')
  })

  it('without versions, the session order of its own writes decides', () => {
    const h = build([write(0, 'x', 'a', 0, 1), write(0, 'x', 'b', 2, 3), read(0, 'x', 'a', 4, 5)])
    const r = checkSessions(h)
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]).toMatchObject({ kind: 'read-your-writes', decidedBy: 'causal-order' })
  })

  it('reading the initial value after an acknowledged write violates RYW', () => {
    const r = checkSessions(build([write(0, 'x', 'a', 0, 1), read(0, 'x', null, 2, 3)]))
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]).toMatchObject({ kind: 'read-your-writes', decidedBy: 'initial-value' })
  })

  it('reading a newer write of another session is fine', () => {
    const h = build([
      versioned(write(0, 'x', 'a', 0, 1), 1),
      versioned(write(1, 'x', 'b', 0, 3), 2),
      versioned(read(0, 'x', 'b', 4, 5), 2)
    ])
    expect(checkSessions(h).valid).toBe(true)
  })

  it('a write with an unknown outcome sets no expectation', () => {
    expect(checkSessions(build([write(0, 'x', 'a', 0, 1, 'info'), read(0, 'x', null, 2, 3)])).valid).toBe(true)
  })

  it('a session named by the session field spans processes; only ops completed before the read count', () => {
    const before = build([inSession(write(0, 'x', 'a', 0, 1), 's'), inSession(read(1, 'x', null, 2, 3), 's')])
    expect(checkSessions(before).valid).toBe(false)
    const overlapping = build([inSession(write(0, 'x', 'a', 0, 10), 's'), inSession(read(1, 'x', null, 2, 3), 's')])
    expect(checkSessions(overlapping).valid).toBe(true)
    const otherSessions = build([write(0, 'x', 'a', 0, 1), read(1, 'x', null, 2, 3)])
    expect(checkSessions(otherSessions).valid).toBe(true)
  })
})

describe('checkSessions: monotonic reads', () => {
  it('reading an older version after a newer one violates monotonic reads', () => {
    const h = build([
      versioned(write(0, 'x', 'a', 0, 1), 1),
      versioned(write(0, 'x', 'b', 2, 3), 2),
      versioned(read(1, 'x', 'b', 4, 5), 2),
      versioned(read(1, 'x', 'a', 6, 7), 1)
    ])
    const r = checkSessions(h)
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]).toMatchObject({ kind: 'monotonic-reads', session: 'process:1' })
    expect(r.anomalies[0]?.explanation).toMatch(/version 1 is older than 2/)
  })

  it('a read borrows the version of the write of its value', () => {
    const h = build([
      versioned(write(0, 'x', 'a', 0, 1), 1),
      versioned(write(0, 'x', 'b', 2, 3), 2),
      read(1, 'x', 'b', 4, 5),
      read(1, 'x', 'a', 6, 7)
    ])
    expect(checkSessions(h).anomalies[0]).toMatchObject({ kind: 'monotonic-reads', decidedBy: 'version' })
  })

  it('without versions, a write that followed a read of the older value orders them', () => {
    // p1 read "a" and then wrote "b", so b is causally newer than a; p2 must not go back.
    const h = build([write(0, 'x', 'a', 0, 1), read(1, 'x', 'a', 2, 3), write(1, 'x', 'b', 4, 5), read(2, 'x', 'b', 6, 7), read(2, 'x', 'a', 8, 9)])
    const r = checkSessions(h)
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]).toMatchObject({ kind: 'monotonic-reads', decidedBy: 'causal-order' })
  })

  it('without versions, causally unrelated writes may be read in any order', () => {
    const h = build([write(0, 'x', 'a', 0, 1), write(1, 'x', 'b', 0, 1), read(2, 'x', 'b', 6, 7), read(2, 'x', 'a', 8, 9)])
    const r = checkSessions(h)
    expect(r.valid).toBe(true)
    expect(r.comparisons.byCausalOrder).toBe(1)
  })

  it('without versions, a value written twice cannot be ordered: counted as undecided, not reported', () => {
    const h = build([write(0, 'x', 'a', 0, 1), write(0, 'x', 'b', 2, 3), write(1, 'x', 'a', 4, 5), read(2, 'x', 'b', 6, 7), read(2, 'x', 'a', 8, 9)])
    const r = checkSessions(h)
    expect(r.valid).toBe(true)
    expect(r.comparisons.undecided).toBe(1)
  })

  it('concurrent versions (comparator answers NaN) are not a violation; a custom comparator orders vectors', () => {
    const vv = (a: unknown, b: unknown): number => {
      const x = a as Record<string, number>
      const y = b as Record<string, number>
      const nodes = new Set([...Object.keys(x), ...Object.keys(y)])
      let less = false
      let more = false
      for (const n of nodes) {
        if ((x[n] ?? 0) < (y[n] ?? 0)) less = true
        if ((x[n] ?? 0) > (y[n] ?? 0)) more = true
      }
      return less && more ? Number.NaN : less ? -1 : more ? 1 : 0
    }
    const concurrent = build([
      versioned(write(0, 'x', 'a', 0, 1), { n1: 1 }),
      versioned(write(1, 'x', 'b', 0, 1), { n2: 1 }),
      versioned(read(2, 'x', 'b', 2, 3), { n2: 1 }),
      versioned(read(2, 'x', 'a', 4, 5), { n1: 1 })
    ])
    expect(checkSessions(concurrent, { compareVersions: vv }).valid).toBe(true)
    const stale = build([
      versioned(write(0, 'x', 'a', 0, 1), { n1: 1 }),
      versioned(write(1, 'x', 'b', 2, 3), { n1: 1, n2: 1 }),
      versioned(read(2, 'x', 'b', 4, 5), { n1: 1, n2: 1 }),
      versioned(read(2, 'x', 'a', 6, 7), { n1: 1 })
    ])
    expect(checkSessions(stale, { compareVersions: vv }).valid).toBe(false)
  })

  it('keys are judged separately', () => {
    const h = build([write(0, 'x', 'a', 0, 1), read(0, 'y', null, 2, 3), call(0, 'write', 'y', 'b', 4, 5), read(0, 'x', 'a', 6, 7)])
    expect(checkSessions(h).valid).toBe(true)
  })
})

describe('checkSessions: properties', () => {
  it('histories of a sequential register satisfy both guarantees, with and without versions', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.boolean(), (seed, versions) => {
      const h = sequentialRegisterHistory({ seed, processes: 5, keys: 2, steps: 300, versions })
      const r = checkSessions(h)
      expect(r.anomalies).toEqual([])
    }), { numRuns: 100 })
  })

  it('making a later read of a session return a value older than an earlier read is always caught', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.nat(), (seed, choice) => {
      const h = sequentialRegisterHistory({ seed, processes: 4, keys: 1, steps: 300, versions: true })
      const ops = operationsOf(h)
      const reads = ops.filter((o) => o.f === 'read' && o.outcome === 'ok')
      const writes = ops.filter((o) => o.f === 'write' && o.outcome === 'ok')
      const pairs: Array<[number, unknown, number]> = []
      for (const r1 of reads) {
        const a = r1.complete?.version as number
        const older = writes.find((w) => (w.complete?.version as number) < a)
        const r2 = reads.find((r) => r.process === r1.process && r.invokeIndex > (r1.completeIndex as number))
        if (older !== undefined && r2 !== undefined) pairs.push([r2.completeIndex as number, older.input, older.complete?.version as number])
      }
      fc.pre(pairs.length > 0)
      const [at, value, version] = pairs[choice % pairs.length] as [number, unknown, number]
      const mutated = h.map((e, i) => i === at ? { ...e, value, version } : e)
      const r = checkSessions(mutated)
      expect(r.valid).toBe(false)
      expect(['monotonic-reads', 'read-your-writes']).toContain(r.anomalies[0]?.kind)
      // [22, 0]: a session read a key deleted twice (null at a newer version), then an older value.
    }), { numRuns: 100, examples: [[22, 0]] })
  })
})
