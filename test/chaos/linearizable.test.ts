import { describe, expect, it } from 'vitest'
import { checkLinearizable } from '../../chaos/checkers/linearizable.js'
import { build, call, cas, read, write } from './helpers.js'

const both = [true, false] as const

describe('checkLinearizable: classic examples', () => {
  it('an empty history is linearizable', () => {
    expect(checkLinearizable([]).valid).toBe(true)
  })

  for (const prechecks of both) {
    it(`a stale read after a write completed is a violation (prechecks ${String(prechecks)})`, () => {
      const h = build([write(0, 'x', 1, 0, 10), read(1, 'x', null, 20, 30)])
      const r = checkLinearizable(h, { prechecks })
      expect(r.valid).toBe(false)
      expect(r.invalidKeys).toEqual(['x'])
      expect(r.anomalies[0]?.kind).toBe('not-linearizable')
      expect(r.anomalies[0]?.ops[0]?.f).toBe('read')
      expect(r.anomalies[0]?.explanation).toContain('leaves the register at 1')
    })
  }

  it('a read of an overwritten value is reported as a stale read without searching', () => {
    const h = build([write(0, 'x', 1, 0, 10), write(1, 'x', 2, 20, 30), read(2, 'x', 1, 40, 50)])
    const r = checkLinearizable(h)
    expect(r.valid).toBe(false)
    expect(r.steps).toBe(0)
    expect(r.anomalies[0]?.kind).toBe('stale-read')
    expect(r.anomalies[0]?.ops.map((o) => o.f)).toEqual(['read', 'write', 'write'])
    expect(r.anomalies[0]?.explanation).toMatch(/stale value/)
    const searched = checkLinearizable(h, { prechecks: false })
    expect(searched.anomalies[0]).toMatchObject({ kind: 'not-linearizable', linearizedCount: 2, opsToPlace: 3, valueAfterPrefix: 2 })
  })

  it('a read of another value in between also proves a read stale', () => {
    const h = build([write(0, 'x', 1, 0, 10), write(1, 'x', 2, 5, 100), read(2, 'x', 2, 20, 30), read(3, 'x', 1, 40, 50)])
    expect(checkLinearizable(h).anomalies[0]?.kind).toBe('stale-read')
    expect(checkLinearizable(h, { prechecks: false }).valid).toBe(false)
  })

  it('a read overlapping a write may return the old value', () => {
    const h = build([write(0, 'x', 1, 0, 10), read(1, 'x', null, 5, 15)])
    expect(checkLinearizable(h).valid).toBe(true)
  })

  it('a read overlapping a write may return the new value', () => {
    const h = build([write(0, 'x', 1, 0, 10), read(1, 'x', 1, 5, 15)])
    expect(checkLinearizable(h).valid).toBe(true)
  })

  it('a read that started before the write was invoked may still see it when they overlap', () => {
    const h = build([read(1, 'x', 1, 0, 15), write(0, 'x', 1, 5, 10)])
    expect(checkLinearizable(h).valid).toBe(true)
  })

  it('two reads may not see the write in opposite orders once the first read returned', () => {
    // r1 sees 1, returns; r2 starts later and sees the old null: new-old inversion.
    const h = build([write(0, 'x', 1, 0, 100), read(1, 'x', 1, 10, 20), read(2, 'x', null, 30, 40)])
    expect(checkLinearizable(h).valid).toBe(false)
  })

  it('an info write that appears later is valid', () => {
    const h = build([
      write(0, 'x', 1, 0, 10, 'info'),
      read(1, 'x', null, 20, 30),
      read(1, 'x', 1, 40, 50)
    ])
    const r = checkLinearizable(h)
    expect(r.valid).toBe(true)
  })

  it('a pending write (never completed) may take effect later', () => {
    const h = build([write(0, 'x', 1, 0), read(1, 'x', null, 20, 30), read(1, 'x', 1, 40, 50)])
    expect(checkLinearizable(h).valid).toBe(true)
  })

  it('an info write may also never take effect', () => {
    const h = build([write(0, 'x', 1, 0, 10, 'info'), read(1, 'x', null, 20, 30), read(1, 'x', null, 40, 50)])
    expect(checkLinearizable(h).valid).toBe(true)
  })

  for (const prechecks of both) {
    it(`an info write seen and then unseen is a violation (prechecks ${String(prechecks)})`, () => {
      const h = build([write(0, 'x', 1, 0, 10, 'info'), read(1, 'x', 1, 20, 30), read(1, 'x', null, 40, 50)])
      expect(checkLinearizable(h, { prechecks }).valid).toBe(false)
    })
  }

  it('a failed write must never be seen', () => {
    const h = build([write(0, 'x', 1, 0, 10, 'fail'), read(1, 'x', 1, 20, 30)])
    const r = checkLinearizable(h)
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]?.kind).toBe('read-of-failed-write')
    expect(checkLinearizable(h, { prechecks: false }).valid).toBe(false)
  })

  it('a read of a value never written is reported as such', () => {
    const h = build([write(0, 'x', 1, 0, 10), read(1, 'x', 99, 20, 30)])
    const r = checkLinearizable(h)
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]?.kind).toBe('read-of-unwritten-value')
    expect(r.anomalies[0]?.explanation).toContain('99')
  })

  it('a read of a value written only after the read returned is a read from the future', () => {
    const h = build([read(1, 'x', 1, 0, 5), write(0, 'x', 1, 10, 20)])
    const r = checkLinearizable(h)
    expect(r.anomalies[0]?.kind).toBe('read-from-future')
    expect(checkLinearizable(h, { prechecks: false }).valid).toBe(false)
  })

  it('a cas chain that succeeds in order is valid', () => {
    const h = build([
      write(0, 'x', 0, 0, 5),
      cas(1, 'x', 0, 1, 10, 20),
      cas(2, 'x', 1, 2, 12, 25),
      cas(3, 'x', 2, 3, 15, 30),
      read(0, 'x', 3, 40, 45)
    ])
    expect(checkLinearizable(h).valid).toBe(true)
  })

  it('two cas ops with the same expected value cannot both succeed', () => {
    const h = build([write(0, 'x', 0, 0, 5), cas(1, 'x', 0, 1, 10, 20), cas(2, 'x', 0, 2, 10, 20)])
    expect(checkLinearizable(h).valid).toBe(false)
  })

  it('a failed cas has no effect and needs no match', () => {
    const h = build([write(0, 'x', 0, 0, 5), cas(1, 'x', 7, 1, 10, 20, 'fail'), read(2, 'x', 0, 30, 40)])
    expect(checkLinearizable(h).valid).toBe(true)
  })

  it('an info cas may take effect when it matches', () => {
    const h = build([write(0, 'x', 0, 0, 5), cas(1, 'x', 0, 1, 10, 20, 'info'), read(2, 'x', 1, 30, 40)])
    expect(checkLinearizable(h).valid).toBe(true)
  })

  it('a successful cas whose expected value was never current is a violation', () => {
    const h = build([write(0, 'x', 0, 0, 5), write(0, 'x', 5, 6, 8), cas(1, 'x', 0, 1, 10, 20)])
    expect(checkLinearizable(h).valid).toBe(false)
  })

  it('a delete makes later reads return null', () => {
    const ok = build([write(0, 'x', 1, 0, 5), call(1, 'delete', 'x', null, 10, 20), read(2, 'x', null, 30, 40)])
    expect(checkLinearizable(ok).valid).toBe(true)
    const bad = build([write(0, 'x', 1, 0, 5), call(1, 'delete', 'x', null, 10, 20), read(2, 'x', 1, 30, 40)])
    expect(checkLinearizable(bad).valid).toBe(false)
  })

  it('keys are independent registers', () => {
    const h = build([write(0, 'x', 1, 0, 10), write(1, 'y', 2, 0, 10), read(2, 'x', 1, 20, 30), read(3, 'y', null, 20, 30)])
    const r = checkLinearizable(h)
    expect(r.valid).toBe(false)
    expect(r.invalidKeys).toEqual(['y'])
    expect(r.keysChecked).toBe(2)
  })

  it('values are compared structurally', () => {
    const h = build([write(0, 'x', { a: 1, b: [1, 2] }, 0, 10), read(1, 'x', { b: [1, 2], a: 1 }, 20, 30)])
    expect(checkLinearizable(h).valid).toBe(true)
  })

  it('a search past its step budget reports unknown with the reason instead of hanging', () => {
    // Fourteen concurrent writes, then two reads that disagree: the search must try every order.
    const calls = []
    for (let p = 0; p < 14; p++) calls.push(write(p, 'x', p, 0, 100))
    calls.push(read(20, 'x', 3, 200, 210), read(20, 'x', 4, 220, 230))
    const r = checkLinearizable(build(calls), { stepsMaxPerKey: 50, prechecks: false })
    expect(r.valid).toBe('unknown')
    expect(r.unknownKeys[0]?.reason).toMatch(/50 steps/)
  })

  it('a search whose memo table outgrows its memory budget reports unknown', () => {
    const calls = []
    for (let p = 0; p < 12; p++) calls.push(write(p, 'x', p % 3, 0, 100))
    for (let p = 12; p < 24; p++) calls.push(read(p, 'x', p % 3, 0, 100))
    const r = checkLinearizable(build(calls), { memoBytesMaxPerKey: 64 })
    expect(r.valid).toBe('unknown')
    expect(r.unknownKeys[0]?.reason).toMatch(/memo table/)
  })

  it('a time budget that has run out reports unknown', () => {
    let t = 0
    const r = checkLinearizable(build([write(0, 'x', 1, 0, 10)]), { timeMaxMs: 5, now: () => { t += 10; return t } })
    expect(r.valid).toBe('unknown')
    expect(r.unknownKeys[0]?.reason).toMatch(/time budget/)
  })

  it('an unknown function is a clear error', () => {
    expect(() => checkLinearizable(build([call(0, 'append', 'x', 1, 0, 1)]))).toThrow(/append/)
  })

  it('unobserved unknown writes are dropped before the search', () => {
    const h = build([write(0, 'x', 1, 0, 10, 'info'), write(1, 'x', 2, 0, 10, 'info'), read(2, 'x', null, 20, 30)])
    const r = checkLinearizable(h)
    expect(r.valid).toBe(true)
    expect(r.opsDropped).toBe(2)
  })
})
