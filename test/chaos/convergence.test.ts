import { describe, expect, it } from 'vitest'
import { checkConvergence, siblings } from '../../chaos/checkers/convergence.js'

describe('checkConvergence', () => {
  it('replicas holding the same values have converged', () => {
    const r = checkConvergence({ n1: { a: 1, b: { x: [1] } }, n2: { b: { x: [1] }, a: 1 }, n3: new Map<string, unknown>([['a', 1], ['b', { x: [1] }]]) })
    expect(r).toMatchObject({ valid: true, keysCompared: 2, divergentKeyCount: 0, replicas: ['n1', 'n2', 'n3'] })
  })

  it('reports each divergent key with the replicas grouped by value', () => {
    const r = checkConvergence(new Map([['n1', { a: 1, b: 2 }], ['n2', { a: 1, b: 3 }], ['n3', { a: 1, b: 2 }]]))
    expect(r.valid).toBe(false)
    expect(r.divergentKeyCount).toBe(1)
    expect(r.anomalies[0]).toMatchObject({ kind: 'divergent-key', key: 'b', groups: [{ value: 2, replicas: ['n1', 'n3'] }, { value: 3, replicas: ['n2'] }] })
    expect(r.anomalies[0]?.explanation).toBe('replicas disagree on key "b": n1, n3 hold 2; n2 holds 3.')
  })

  it('compares sibling sets as sets, and a single sibling as its value', () => {
    expect(checkConvergence({ n1: { k: siblings(1, 2) }, n2: { k: siblings(2, 1, 2) } }).valid).toBe(true)
    expect(checkConvergence({ n1: { k: siblings('x') }, n2: { k: 'x' } }).valid).toBe(true)
    const r = checkConvergence({ n1: { k: siblings(1, 2) }, n2: { k: siblings(1) } })
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]?.explanation).toMatch(/siblings \{1, 2\}/)
  })

  it('a missing key equals a deleted (null) one unless told otherwise', () => {
    const states = { n1: { k: null }, n2: {} }
    expect(checkConvergence(states).valid).toBe(true)
    const r = checkConvergence(states, { missingEqualsNull: false })
    expect(r.valid).toBe(false)
    expect(r.anomalies[0]?.explanation).toMatch(/no value/)
  })
})
