import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { describe, expect, it } from 'vitest'
import { protocolId } from '../../../src/transport/types.js'
import { counterValue, eventually, startNode } from './helpers.js'

const slow = protocolId('slow')

describe('backpressure', () => {
  it('a peer that stops reading fills the bounded queue, send() turns false, and it drains when the peer reads again', async () => {
    const queueBytes = 4 * 1024 * 1024
    const sender = await startNode({ peerQueueBytesMax: queueBytes })
    // A raw libp2p receiver that can stop reading: yamux then stops granting send window.
    const receiver = await createLibp2p({ privateKey: await generateKeyPair('Ed25519'), addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    let inbound: Stream | undefined
    let receivedBytes = 0
    await receiver.handle(slow, (stream) => {
      inbound = stream
      stream.maxReadBufferLength = 256 * 1024 * 1024 // paused data waits in this buffer instead of resetting the stream
      stream.pause()
      stream.addEventListener('message', (evt) => { receivedBytes += evt.data.byteLength })
    }, { maxInboundStreams: 4, maxOutboundStreams: 4 })
    try {
      sender.transport.setPeerAddresses(receiver.peerId.toString(), receiver.getMultiaddrs().map(String))
      const message = new Uint8Array(64 * 1024)
      expect(sender.transport.send(receiver.peerId.toString(), slow, message)).toBe(true)
      await eventually(() => inbound !== undefined)
      let accepted = 1
      // Bounded loop: at most 10,000 sends, yielding so that the writer can run.
      for (let i = 0; i < 10_000; i++) {
        if (!sender.transport.send(receiver.peerId.toString(), slow, message)) break
        accepted++
        if (i % 16 === 0) await new Promise(resolve => setTimeout(resolve, 1))
      }
      expect(accepted).toBeLessThan(10_000)
      // Accepted = the bounded queue + yamux's initial 256 KiB send window, which the paused reader never renews.
      expect(accepted * message.byteLength).toBeLessThan(queueBytes + 2 * 1024 * 1024)
      expect(await counterValue(sender.registry, 'quorumkv_rpc_messages_dropped_total', { reason: 'queue_full' })).toBe(1)
      expect(await counterValue(sender.registry, 'quorumkv_transport_queued_bytes')).toBeGreaterThan(0)
      inbound!.resume()
      await eventually(async () => await counterValue(sender.registry, 'quorumkv_transport_queued_bytes') === 0)
      await eventually(() => receivedBytes >= accepted * message.byteLength)
      expect(sender.transport.send(receiver.peerId.toString(), slow, message)).toBe(true)
    } finally {
      await sender.transport.stop()
      await receiver.stop()
    }
  })
})
