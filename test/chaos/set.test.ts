import { describe, expect, it } from 'vitest'
import { checkSet } from '../../chaos/checkers/set.js'
import { build, call } from './helpers.js'

const add = (p: number, element: unknown, t0: number, t1?: number, outcome: 'ok' | 'fail' | 'info' = 'ok') => call(p, 'add', 's', element, t0, t1, outcome)
const readSet = (p: number, elements: unknown[], t0: number, t1: number, replica?: string) => {
  const c = call(p, 'read', 's', null, t0, t1, 'ok', elements)
  if (replica !== undefined) c.completeExtra = { replica }
  return c
}

describe('checkSet', () => {
  it('a final read holding every acknowledged add is valid, and unknown adds it holds are recovered', () => {
    const h = build([add(0, 1, 0, 1), add(1, 2, 0, 2), add(2, 3, 0, 3, 'info'), add(3, 4, 0, 3, 'info'), add(0, 5, 2, 3, 'fail'), readSet(0, [1, 2, 3], 10, 11)])
    const r = checkSet(h)
    expect(r.valid).toBe(true)
    expect(r).toMatchObject({ attempted: 5, acknowledged: 2, failed: 1, unknown: 2, lostCount: 0, recoveredCount: 1, unexpectedCount: 0 })
    expect(r.anomalies).toEqual([])
  })

  it('an acknowledged add missing from the final read is a lost write', () => {
    const h = build([add(0, 1, 0, 1), add(1, 2, 0, 2), readSet(0, [2], 10, 11)])
    const r = checkSet(h)
    expect(r.valid).toBe(false)
    expect(r.lostCount).toBe(1)
    expect(r.anomalies[0]).toMatchObject({ kind: 'lost', element: 1, key: 's' })
    expect(r.anomalies[0]?.ops[0]?.f).toBe('add')
    expect(r.anomalies[0]?.explanation).toMatch(/acknowledged/)
  })

  it('an element an earlier read returned must not disappear, even if its add timed out', () => {
    const h = build([add(0, 1, 0, 1, 'info'), readSet(1, [1], 2, 3), readSet(1, [], 10, 11)])
    const r = checkSet(h)
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]?.explanation).toMatch(/earlier read returned it/)
  })

  it('an element nobody added is unexpected', () => {
    const r = checkSet(build([add(0, 1, 0, 1), readSet(0, [1, 9], 10, 11)]))
    expect(r.valid).toBe(false)
    expect(r.unexpectedCount).toBe(1)
    expect(r.anomalies[0]).toMatchObject({ kind: 'unexpected', element: 9 })
  })

  it('an element whose add failed must not be present', () => {
    const r = checkSet(build([add(0, 1, 0, 1, 'fail'), readSet(0, [1], 10, 11)]))
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]?.kind).toBe('failed-add-present')
  })

  it('judges every final read, one per replica, and names the replica that lost the write', () => {
    const h = build([add(0, 1, 0, 1), add(0, 2, 2, 3), readSet(0, [1, 2], 10, 11, 'n1'), readSet(1, [1], 10, 12, 'n2'), readSet(2, [2, 1], 10, 13, 'n3')])
    const r = checkSet(h)
    expect(r.valid).toBe(false)
    expect(r.finalReads.map((f) => [f.replica, f.lost])).toEqual([['n1', 0], ['n2', 1], ['n3', 0]])
    expect(r.anomalies[0]).toMatchObject({ kind: 'lost', element: 2, replicas: ['n2'] })
  })

  it('reads before the adds finished are not final', () => {
    const h = build([add(0, 1, 0, 5), readSet(1, [], 1, 2)])
    const r = checkSet(h)
    expect(r.valid).toBe('unknown')
    expect(r.reason).toMatch(/no final read/)
  })

  it('accepts final reads given explicitly', () => {
    const h = build([add(0, 1, 0, 1), add(0, 2, 2, 3)])
    const r = checkSet(h, { finalReads: [{ key: 's', replica: 'a', elements: [1, 2] }, { key: 's', replica: 'b', elements: [1] }] })
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]).toMatchObject({ element: 2, replicas: ['b'] })
  })

  it('a read that does not return an array is a clear error', () => {
    expect(() => checkSet(build([add(0, 1, 0, 1), call(0, 'read', 's', null, 2, 3, 'ok', 5)]))).toThrow(/array of elements/)
  })
})
