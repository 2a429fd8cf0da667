import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { installYamuxWindowRule } from '../../../src/transport/libp2p/yamux-window.js'
import { protocolId } from '../../../src/transport/types.js'
import { startPair } from './helpers.js'
import type { TestNode } from './helpers.js'

const echo = protocolId('echo')
const timeoutMs = 20_000

/**
 * Window updates the rule lets through to the library, counted by a spy it wraps: installed here
 * before the rule (this file has its own module instances), so the rule calls the spy.
 */
let updates = 0
const proto = YamuxStream.prototype as unknown as { sendWindowUpdate: () => void, state: StreamState }
const library = proto.sendWindowUpdate
proto.sendWindowUpdate = function (this: { state: StreamState }) {
  if (this.state === StreamState.Established) updates++
  library.call(this)
}

describe('the yamux window-update rule', () => {
  let a: TestNode
  let b: TestNode

  beforeAll(async () => {
    expect(installYamuxWindowRule()).toBe(true)
    ;[a, b] = await startPair()
    for (const n of [a, b]) n.transport.handle(echo, { parse: (x: unknown) => x, onRequest: async (_f, m) => m })
  })

  afterAll(async () => {
    await a.transport.stop()
    await b.transport.stop()
  })

  it('sends no window update for small messages while half the window is left', async () => {
    expect(await a.transport.request(b.transport.peerId, echo, 'warm', { timeoutMs })).toBe('warm')
    updates = 0
    for (let i = 0; i < 200; i++) expect(await a.transport.request(b.transport.peerId, echo, { i, pad: 'x'.repeat(200) }, { timeoutMs })).toEqual({ i, pad: 'x'.repeat(200) })
    // The library sent one after each of the 400 data frames; half a 256 KiB window holds them all.
    expect(updates).toBeLessThan(10)
  })

  it('still grants credit: messages many times the window get through both ways, concurrently', async () => {
    const big = (seed: number): Uint8Array => Uint8Array.from({ length: 1024 * 1024 }, (_, i) => (i * 31 + seed) & 0xff)
    updates = 0
    const replies = await Promise.all(Array.from({ length: 12 }, async (_, i) => await b.transport.request(a.transport.peerId, echo, big(i), { timeoutMs })))
    replies.forEach((r, i) => { expect(Buffer.from(r as Uint8Array).equals(Buffer.from(big(i)))).toBe(true) })
    // 24 MiB crossed: the receivers granted credit as half of each window was used.
    expect(updates).toBeGreaterThan(0)
  })
})
