import { describe, expect, it } from 'vitest'
import { OverloadedError, ProtocolError } from '../../src/api/errors.js'
import { encode } from '../../src/codec/msgpack.js'
import { parseQuorumMessage, parseReadReply, parseReplicateReply, parseWriteOutcome, quorumProtocol } from '../../src/replication/messages.js'
import { emptyRecord, recordToWire } from '../../src/replication/record.js'
import { emptyQuorumSession, sessionToWire } from '../../src/replication/session.js'
import { Cluster } from './cluster.js'

const limits = { keyBytesMax: 16 }

describe('quorum messages', () => {
  it('accept each well-formed message', () => {
    const rec = recordToWire(emptyRecord('mv'))
    expect(parseQuorumMessage({ t: 'replicate', items: [{ key: 'mv/k', rec: encode(rec), hintFor: 'n2' }, { key: 'mv/j', rec: encode(rec) }] }, limits))
      .toMatchObject({ t: 'replicate', items: [{ key: 'mv/k', hintFor: 'n2' }, { key: 'mv/j' }] })
    expect(parseQuorumMessage({ t: 'read', key: 'mv/k' }, limits)).toEqual({ t: 'read', key: 'mv/k' })
    expect(parseQuorumMessage({ t: 'reap-check', key: 'mv/k', ctx: { n1: 2 } }, limits)).toEqual({ t: 'reap-check', key: 'mv/k', ctx: { n1: 2 } })
    expect(parseQuorumMessage({ t: 'watermark', asOf: 5, oldest: null }, limits)).toEqual({ t: 'watermark', asOf: 5, oldest: null })
    const op = { kind: 'put', key: 'mv/k', value: new Uint8Array([1]), level: 'causal', w: 2, pw: 0, session: sessionToWire(emptyQuorumSession()) }
    expect(parseQuorumMessage({ t: 'coordinate', op, timeoutMs: 100 }, limits)).toMatchObject({ t: 'coordinate', op: { kind: 'put', w: 2 } })
  })

  it('refuse malformed messages with PROTOCOL errors', () => {
    const session = sessionToWire(emptyQuorumSession())
    const bad: unknown[] = [
      null, [], { t: 'nope' }, { t: 'read' }, { t: 'read', key: 'x'.repeat(17) }, { t: 'read', key: 5 },
      { t: 'replicate', items: [{ key: 'k', rec: encode({ q: 1, t: 'mv', s: 'x' }) }] },
      { t: 'replicate', items: [{ key: 'k', rec: encode(recordToWire(emptyRecord('mv'))), hintFor: '' }] },
      { t: 'replicate', items: [{ key: 'k', rec: recordToWire(emptyRecord('mv')) }] },
      { t: 'replicate', items: [{ key: 'k', rec: new Uint8Array([0xc1]) }] },
      { t: 'replicate', items: [] }, { t: 'replicate', key: 'k', rec: encode(recordToWire(emptyRecord('mv'))) },
      { t: 'replicate', items: Array.from({ length: 257 }, (_, i) => ({ key: `k${i}`, rec: encode(recordToWire(emptyRecord('mv'))) })) },
      // One bad item refuses the whole batch.
      { t: 'replicate', items: [{ key: 'good', rec: encode(recordToWire(emptyRecord('mv'))) }, { key: 'x'.repeat(17), rec: encode(recordToWire(emptyRecord('mv'))) }] },
      { t: 'coordinate', op: { kind: 'put', key: 'k', level: 'causal', w: 2, pw: 0, session }, timeoutMs: 5 },
      { t: 'coordinate', op: { kind: 'increment', key: 'k', delta: 1.5, level: 'causal', w: 2, pw: 0, session }, timeoutMs: 5 },
      { t: 'coordinate', op: { kind: 'put', key: 'k', value: new Uint8Array(), level: 'psychic', w: 2, pw: 0, session }, timeoutMs: 5 },
      { t: 'coordinate', op: { kind: 'put', key: 'k', value: new Uint8Array(), level: 'causal', w: 9, pw: 0, session }, timeoutMs: 5 },
      { t: 'reap', key: 'k', ctx: { n1: -1 } }, { t: 'watermark', asOf: 'now', oldest: null }
    ]
    for (const b of bad) expect(() => parseQuorumMessage(b, limits), JSON.stringify(b)).toThrow(ProtocolError)
  })

  it('refuse malformed replies', () => {
    expect(() => parseReplicateReply({ results: [{ ctx: { a: 'x' } }] }, 1)).toThrow(ProtocolError)
    expect(() => parseReplicateReply({ results: [{ ctx: { a: 1 } }] }, 2)).toThrow(ProtocolError)
    const [ok, refused] = parseReplicateReply({ results: [{ ctx: { a: 1 } }, { err: ['OVERLOADED', 'too many hints'] }] }, 2)
    expect(ok).toEqual({ a: 1 })
    expect(refused).toBeInstanceOf(OverloadedError)
    expect(() => parseReadReply({ rec: { q: 1, t: 'lww', s: {} }, fresh: 1 })).toThrow(ProtocolError)
    expect(() => parseWriteOutcome({ ctx: {}, version: 5, session: {} })).toThrow(ProtocolError)
    expect(parseReadReply({ rec: null, fresh: null })).toEqual({ rec: undefined, fresh: -Infinity })
  })

  it('a replica answers a malformed request with a PROTOCOL error and changes nothing', async () => {
    const c = new Cluster({ nodes: 2 })
    await c.start()
    const t = c.net.transport('n1')
    if (t === undefined) throw new Error('n1 is down')
    const good = encode(recordToWire(emptyRecord('mv')))
    const bad = encode({ q: 1, t: 'mv', s: { context: { n1: 1 }, siblings: [{ node: 'n1', counter: 3, tombstone: true }] } })
    await expect(c.run(async () => await t.request('n2', quorumProtocol, { t: 'replicate', items: [{ key: 'mv/j', rec: good }, { key: 'mv/k', rec: bad }] }, { timeoutMs: 100 }))).rejects.toThrow(ProtocolError)
    expect(await c.run(async () => await c.node('n2').localRecord('mv/k'))).toBeUndefined()
    expect(await c.run(async () => await c.node('n2').localRecord('mv/j'))).toBeUndefined()
  })
})
