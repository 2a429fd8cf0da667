import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkLinearizable } from '../../chaos/checkers/linearizable.js'
import { byKey, precedes, toOperations, valueKey } from '../../chaos/checkers/common.js'
import type { HistoryEvent, Operation } from '../../chaos/history.js'
import { build, call } from './helpers.js'
import type { Call } from './helpers.js'
import { sequentialRegisterHistory } from './register-histories.js'

/** Replaces the value of the ok read at `readIndex` (among ok reads) with `value`. */
function mutateRead (events: readonly HistoryEvent[], readIndex: number, value: unknown): HistoryEvent[] {
  let seen = 0
  return events.map((e) => {
    if (e.type !== 'ok' || e.f !== 'read') return e
    return seen++ === readIndex ? { ...e, value } : e
  })
}

/** The definition, by exhaustive search over orders: only for tiny histories. */
function bruteForceLinearizable (events: readonly HistoryEvent[]): boolean {
  for (const group of byKey(toOperations(events)).values()) {
    const ops = group.filter((o) => o.outcome !== 'fail' && !(o.f === 'read' && o.outcome !== 'ok'))
    const placed = new Array<boolean>(ops.length).fill(false)
    const search = (state: string, left: number): boolean => {
      if (left === 0) return true
      for (let i = 0; i < ops.length; i++) {
        if (placed[i] === true) continue
        const op = ops[i] as Operation
        if (ops.some((o, j) => placed[j] !== true && precedes(o, op))) continue
        let next = state
        if (op.f === 'read') {
          if (valueKey(op.output) !== state) continue
        } else if (op.f === 'write') {
          next = valueKey(op.input)
        } else if (op.f === 'delete') {
          next = 'null'
        } else {
          const [expected, value] = op.input as [unknown, unknown]
          if (valueKey(expected) !== state) continue
          next = valueKey(value)
        }
        placed[i] = true
        if (search(next, left - (op.outcome === 'ok' ? 1 : 0))) return true
        placed[i] = false
      }
      return false
    }
    if (!search('null', ops.filter((o) => o.outcome === 'ok').length)) return false
  }
  return true
}

const smallValue = fc.constantFrom(null, 1, 2)
const smallCall = fc.record({
  f: fc.constantFrom('read', 'write', 'cas', 'delete'),
  key: fc.constantFrom('a', 'b'),
  value: smallValue,
  other: smallValue,
  gap: fc.integer({ min: 0, max: 4 }),
  length: fc.integer({ min: 1, max: 6 }),
  outcome: fc.constantFrom('ok', 'ok', 'ok', 'fail', 'info')
})

/**
 * Random small histories, most of them not linearizable: per process, calls back to back. With
 * `unique`, every write and cas writes a fresh value (reads still return small values), which
 * exercises the reductions for unknown outcomes.
 */
const smallHistory = fc.tuple(fc.array(fc.array(smallCall, { maxLength: 3 }), { minLength: 1, maxLength: 3 }), fc.boolean()).map(([processes, unique]) => {
  const calls: Call[] = []
  let fresh = 1
  const written = (v: number | null): number => unique ? fresh++ : v ?? 3
  processes.forEach((list, p) => {
    let t = 0
    for (const c of list) {
      const start = t + c.gap
      const end = start + c.length
      const outcome = c.outcome as 'ok' | 'fail' | 'info'
      if (c.f === 'read') calls.push(call(p, 'read', c.key, null, start, end, outcome, outcome === 'ok' ? c.value : null))
      else if (c.f === 'write') calls.push(call(p, 'write', c.key, written(c.value), start, end, outcome))
      else if (c.f === 'cas') calls.push(call(p, 'cas', c.key, [c.value, written(c.other)], start, end, outcome))
      else calls.push(call(p, 'delete', c.key, null, start, end, outcome))
      t = end
    }
  })
  return build(calls)
})

describe('checkLinearizable: properties', () => {
  it('histories of a sequential register with overlapping calls are always linearizable', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 4 }), (seed, processes, keys) => {
      const h = sequentialRegisterHistory({ seed, processes, keys, steps: 300 })
      const r = checkLinearizable(h)
      expect(r.anomalies).toEqual([])
      expect(r.valid).toBe(true)
    }), { numRuns: 200 })
  })

  it('with many unknown outcomes they are still linearizable', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
      const h = sequentialRegisterHistory({ seed, processes: 6, keys: 2, steps: 300, infoRate: 0.25, failRate: 0.1 })
      expect(checkLinearizable(h).valid).toBe(true)
    }), { numRuns: 100 })
  })

  for (const prechecks of [true, false]) {
    it(`changing a read result to a never-written value is always caught (prechecks ${String(prechecks)})`, () => {
      fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.nat(), (seed, pick) => {
        const h = sequentialRegisterHistory({ seed, processes: 5, keys: 3, steps: 300 })
        const reads = h.filter((e) => e.type === 'ok' && e.f === 'read').length
        fc.pre(reads > 0)
        const r = checkLinearizable(mutateRead(h, pick % reads, 'never-written'), { prechecks })
        expect(r.valid).toBe(false)
        expect(r.anomalies.length).toBeGreaterThan(0)
      }), { numRuns: 150 })
    })
  }

  it('agrees with an exhaustive search on small random histories', () => {
    let invalid = 0
    fc.assert(fc.property(smallHistory, (h) => {
      const expected = bruteForceLinearizable(h)
      if (!expected) invalid++
      expect(checkLinearizable(h, { prechecks: false }).valid).toBe(expected)
      expect(checkLinearizable(h).valid).toBe(expected)
    }), { numRuns: 3000 })
    // The generator must produce both kinds or the comparison proves little.
    expect(invalid).toBeGreaterThan(300)
    expect(invalid).toBeLessThan(2700)
  })
})
