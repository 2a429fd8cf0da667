import { describe, expect, it } from 'vitest'
import { RemoteClient } from '../../src/client/remote-client.js'
import { decodeSession, encodeSession } from '../../src/client/session.js'
import { emptyQuorumSession, observeKey, sessionCovers } from '../../src/replication/session.js'
import { seededRandom } from '../../src/runtime/random.js'
import type { Transport } from '../../src/transport/types.js'

/**
 * What the remote client puts on the wire, seen through a transport that records each request and
 * answers as a node would: with a token of what the call saw (its key's bucket and the log index).
 * The node process itself is in remote-client.test.ts; here only the requests matter.
 */
function recordingClient (): { kv: RemoteClient, sent: Array<{ op: string, options: { session?: string } }> } {
  const sent: Array<{ op: string, options: { session?: string } }> = []
  let seq = 0
  const transport: Transport = {
    localId: 'client',
    handle: () => {},
    unhandle: () => {},
    send: () => false,
    request: async (_to, _protocol, message) => {
      const m = message as { op: string, key: string, options: { session?: string } }
      sent.push(m)
      seq++
      const session = encodeSession({ raftIndex: seq, quorum: observeKey(emptyQuorumSession(), m.key, { n1: seq }) })
      return m.op === 'get' ? { session } : { key: m.key, version: String(seq), etag: `e${seq}`, session }
    }
  }
  return { kv: new RemoteClient({ transport, nodes: ['n1'], random: seededRandom(7) }), sent }
}

describe('the remote client\'s session token on the wire', () => {
  it('sends no token with an eventual or strong call, and its own token with the others', async () => {
    const { kv, sent } = recordingClient()
    await kv.put('q/a', 1, { consistency: 'causal' })
    const own = kv.session()
    await kv.put('q/b', 2, { consistency: 'eventual' })
    await kv.put('cfg/c', 3, { consistency: 'strong' })
    await kv.get('q/a', { consistency: 'eventual' })
    await kv.get('cfg/c', { consistency: 'strong' })
    const beforeCausal = kv.session()
    await kv.get('q/b', { consistency: 'causal' })
    await kv.put('q/d', 4)
    expect(sent.map(m => m.options.session === undefined)).toEqual([false, true, true, true, true, false, false])
    expect(sent[5]?.options.session).toBe(beforeCausal)
    // The answers of the calls that sent none still joined the client's session.
    expect(sessionCovers(decodeSession(beforeCausal).quorum, decodeSession(own).quorum)).toBe(true)
    expect(decodeSession(beforeCausal).raftIndex).toBe(5)
  })
})
