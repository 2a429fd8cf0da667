import { describe, expect, it } from 'vitest'
import { AccessControl } from '../../src/service/access.js'
import { adminProtocol, parseAdminRequest, registerAdminProtocol, type AdminTarget } from '../../src/service/admin-protocol.js'
import { parseConfig } from '../../src/config/parse.js'
import type { MessageHandler, Transport } from '../../src/transport/types.js'

const admin = '12D3KooWAdmin1111111111111111111111111111111111111'
const reader = '12D3KooWReader111111111111111111111111111111111111'
const scoped = '12D3KooWScoped111111111111111111111111111111111111'
const memberPeer = '12D3KooWMember111111111111111111111111111111111111'
const stranger = '12D3KooWStranger1111111111111111111111111111111111'

function setUp (): { call: (from: string, request: unknown) => Promise<unknown>, calls: string[] } {
  const config = parseConfig({
    schemaVersion: 1,
    dataDir: '/unused',
    cluster: { members: [{ peerId: memberPeer }] },
    access: { clients: [{ peerId: admin, rights: 'read-write', prefix: '' }, { peerId: reader, rights: 'read', prefix: '' }, { peerId: scoped, rights: 'read-write', prefix: 'agents/' }] }
  })
  const calls: string[] = []
  const target: AdminTarget = {
    peerId: 'self',
    multiaddrs: ['/ip4/127.0.0.1/tcp/1/p2p/self'],
    config: { name: 'node1' },
    members: () => [{ peerId: 'self', name: 'node1', role: 'voter', liveness: 'alive', incarnation: 1, lastSeenAgeMs: 0, addresses: [] }],
    raftStatus: () => ({ leader: 'self', role: 'leader', term: 2, commitIndex: 5, appliedIndex: 5, voters: ['self'], learners: [], matchIndex: {} }),
    addMember: async (m, o) => { calls.push(`add ${m.peerId} ${m.multiaddrs.join(',')} ${String(o?.timeoutMs)}`) },
    promoteMember: async (p) => { calls.push(`promote ${p}`) },
    removeMember: async (p) => { calls.push(`remove ${p}`) }
  }
  let handler: MessageHandler<unknown> | undefined
  const transport = { handle: (protocol: string, h: MessageHandler<unknown>) => { expect(protocol).toBe(adminProtocol); handler = h } } as unknown as Transport
  registerAdminProtocol(transport, new AccessControl(config), target, { httpAddr: '127.0.0.1:9464' })
  return {
    calls,
    // As the transport does: parse first, then the handler.
    call: async (from, request) => await (handler as MessageHandler<unknown>).onRequest?.(from, (handler as MessageHandler<unknown>).parse(request), new AbortController().signal)
  }
}

describe('the admin protocol', () => {
  it('reports status and members to a client with read-write on every key, and to members', async () => {
    const { call } = setUp()
    expect(adminProtocol).toBe('/quorumkv/admin/1.0.0')
    for (const peer of [admin, memberPeer]) {
      expect(await call(peer, { op: 'status' })).toMatchObject({ peerId: 'self', name: 'node1', httpAddr: '127.0.0.1:9464', appliedIndex: 5, raft: { leader: 'self', term: 2 }, members: [{ peerId: 'self' }] })
      expect(await call(peer, { op: 'members' })).toMatchObject({ members: [{ peerId: 'self', role: 'voter' }] })
    }
  })

  it('refuses read-only clients, clients limited to a prefix, and strangers', async () => {
    const { call, calls } = setUp()
    for (const peer of [reader, scoped, stranger]) {
      await expect(call(peer, { op: 'status' })).rejects.toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringContaining('may not administer this cluster') })
      await expect(call(peer, { op: 'remove-member', peerId: memberPeer })).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
    }
    expect(calls).toEqual([])
  })

  it('hands membership changes to the node with their arguments', async () => {
    const { call, calls } = setUp()
    expect(await call(admin, { op: 'add-member', peerId: stranger, multiaddrs: ['/ip4/127.0.0.1/tcp/9/p2p/x'], timeoutMs: 3000 })).toEqual({ ok: true })
    expect(await call(admin, { op: 'promote-member', peerId: stranger })).toEqual({ ok: true })
    expect(await call(admin, { op: 'remove-member', peerId: stranger })).toEqual({ ok: true })
    expect(calls).toEqual([`add ${stranger} /ip4/127.0.0.1/tcp/9/p2p/x 3000`, `promote ${stranger}`, `remove ${stranger}`])
  })

  it('rejects malformed requests before anything runs', () => {
    const bad: unknown[] = [
      null, [], 'status', {}, { op: 'stop' }, { op: 'status', extra: 1 },
      { op: 'add-member', peerId: stranger }, { op: 'add-member', peerId: stranger, multiaddrs: [] },
      { op: 'add-member', peerId: stranger, multiaddrs: ['tcp/1'] }, { op: 'add-member', peerId: stranger, multiaddrs: Array(17).fill('/ip4/1.2.3.4') },
      { op: 'promote-member', peerId: 'not base58!' }, { op: 'remove-member', peerId: 'x'.repeat(65) },
      { op: 'remove-member', peerId: stranger, timeoutMs: 0 }, { op: 'remove-member', peerId: stranger, timeoutMs: 1.5 }
    ]
    for (const raw of bad) expect(() => parseAdminRequest(raw), JSON.stringify(raw)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
    expect(parseAdminRequest({ op: 'remove-member', peerId: stranger, timeoutMs: 5000 })).toEqual({ op: 'remove-member', peerId: stranger, timeoutMs: 5000 })
  })
})
