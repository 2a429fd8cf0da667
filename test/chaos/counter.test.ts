import { describe, expect, it } from 'vitest'
import { checkCounter } from '../../chaos/checkers/counter.js'
import { build, call } from './helpers.js'

const inc = (p: number, delta: number, t0: number, t1?: number, outcome: 'ok' | 'fail' | 'info' = 'ok') => call(p, 'add', 'c', delta, t0, t1, outcome)
const readC = (p: number, value: number, t0: number, t1: number, replica?: string) => {
  const c = call(p, 'read', 'c', null, t0, t1, 'ok', value)
  if (replica !== undefined) c.completeExtra = { replica }
  return c
}

describe('checkCounter', () => {
  it('a final read equal to the acknowledged sum is valid', () => {
    const r = checkCounter(build([inc(0, 1, 0, 1), inc(1, 2, 0, 2), inc(2, 5, 0, 3, 'fail'), readC(0, 3, 10, 11)]))
    expect(r.valid).toBe(true)
    expect(r.keys[0]).toMatchObject({ key: 'c', okSum: 3, lower: 3, upper: 3 })
  })

  it('unknown increments widen the allowed range', () => {
    const calls = [inc(0, 1, 0, 1), inc(1, 2, 0, 2, 'info'), inc(2, 4, 0, 3, 'info')]
    for (const v of [1, 3, 5, 7]) expect(checkCounter(build([...calls, readC(0, v, 10, 11)])).valid).toBe(true)
    const r = checkCounter(build([...calls, readC(0, 8, 10, 11)]))
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]).toMatchObject({ kind: 'final-read-out-of-range', value: 8, lower: 1, upper: 7 })
  })

  it('a final read below the acknowledged sum reports lost increments', () => {
    const r = checkCounter(build([inc(0, 1, 0, 1), inc(0, 1, 2, 3), readC(1, 1, 10, 11)]))
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]?.explanation).toMatch(/lost/)
  })

  it('negative unknown deltas lower the bottom of the range', () => {
    const r = checkCounter(build([inc(0, 5, 0, 1), inc(0, -2, 2, 3, 'info'), readC(1, 3, 10, 11)]))
    expect(r.valid).toBe(true)
    expect(r.keys[0]).toMatchObject({ lower: 3, upper: 5 })
  })

  it('replicas whose final reads differ disagree, even inside the range', () => {
    const r = checkCounter(build([inc(0, 1, 0, 1), inc(1, 1, 0, 1, 'info'), readC(0, 1, 10, 11, 'n1'), readC(1, 2, 10, 11, 'n2')]))
    expect(r.valid).toBe(false)
    expect(r.anomalies.map((a) => a.kind)).toEqual(['replicas-disagree'])
    expect(r.anomalies[0]?.explanation).toMatch(/n1=1, n2=2/)
  })

  it('with checkAllReads, a read missing an increment that completed before it is caught', () => {
    const h = build([inc(0, 1, 0, 1), readC(1, 0, 2, 3), inc(0, 1, 4, 5), readC(1, 2, 10, 11)])
    expect(checkCounter(h).valid).toBe(true)
    const r = checkCounter(h, { checkAllReads: true })
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]).toMatchObject({ kind: 'read-out-of-range', value: 0, lower: 1, upper: 1 })
  })

  it('a counter with increments and no final read is unknown', () => {
    expect(checkCounter(build([inc(0, 1, 0, 1)])).valid).toBe('unknown')
  })
})
