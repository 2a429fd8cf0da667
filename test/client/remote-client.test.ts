import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, generateIdentity, type Client } from '../../src/index.js'
import { exited, onLines, spawnTs } from '../support/spawn.js'
import { tempDir } from '../support/tmp.js'
import { decodeSession } from '../../src/client/session.js'
import { sessionCovers, sessionRequirement } from '../../src/replication/session.js'

describe('a remote client against a node process', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let child: ChildProcess
  let addrs: string[]
  const keys = { writer: '', reader: '', scoped: '', stranger: '' }

  beforeAll(async () => {
    dir = await tempDir()
    const ids: Record<string, string> = {}
    for (const name of Object.keys(keys) as Array<keyof typeof keys>) {
      keys[name] = join(dir.path, `${name}.key`)
      ids[name] = (await generateIdentity(keys[name])).peerId
    }
    const config = {
      schemaVersion: 1,
      dataDir: join(dir.path, 'node'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      logging: { level: 'warn' },
      collections: { q: { mode: 'quorum', merge: 'lww', n: 1, w: 1, r: 1 } },
      access: {
        clients: [
          { peerId: ids.writer, rights: 'read-write', prefix: '' },
          { peerId: ids.reader, rights: 'read', prefix: '' },
          { peerId: ids.scoped, rights: 'read-write', prefix: 'agents/' }
        ]
      }
    }
    await writeFile(join(dir.path, 'node.json'), JSON.stringify(config))
    child = spawnTs('cluster/node-main.ts', [join(dir.path, 'node.json')])
    addrs = await new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('node did not start')) }, 20_000)
      onLines(child, line => {
        const msg = JSON.parse(line) as { event: string, multiaddrs: string[] }
        if (msg.event === 'listening') { clearTimeout(timer); resolve(msg.multiaddrs) }
      })
    })
  })

  afterAll(async () => {
    child.kill('SIGTERM')
    const { code } = await exited(child)
    expect(code).toBe(0)
    await dir.cleanup()
  })

  async function withClient<T> (key: string, fn: (kv: Client) => Promise<T>): Promise<T> {
    const kv = await connect({ peers: addrs, identity: key, requestTimeoutMs: 3000 })
    try { return await fn(kv) } finally { await kv.close() }
  }

  it('puts, gets and deletes through the client protocol', async () => {
    await withClient(keys.writer, async (kv) => {
      const w = await kv.put('agents/1', { name: 'scout', bytes: new Uint8Array([1, 2]) })
      const e = await kv.get<{ name: string }>('agents/1', { consistency: 'strong' })
      expect(e).toMatchObject({ key: 'agents/1', value: { name: 'scout' }, version: w.version, etag: w.etag })
      await expect(kv.put('agents/1', 'x', { ifMatch: 'r999' })).rejects.toMatchObject({ name: 'PreconditionFailedError', code: 'PRECONDITION_FAILED' })
      await kv.delete('agents/1')
      expect(await kv.get('agents/1')).toBeUndefined()
      await expect(kv.put('', 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    })
  })

  it('answers an eventual or strong call, which carries no session, with a token holding the client\'s past and the token passed to it', async () => {
    const theirs = await withClient(keys.writer, async (kv) => (await kv.put('q/theirs', 1, { consistency: 'causal' })).session)
    await withClient(keys.writer, async (kv) => {
      const own = await kv.put('q/own', 2, { consistency: 'causal' })
      const w = await kv.put('q/mine', 3, { consistency: 'eventual', session: theirs })
      expect(w.session).toBe(kv.session())
      const token = decodeSession(w.session).quorum
      for (const past of [theirs, own.session]) expect(sessionCovers(token, decodeSession(past).quorum)).toBe(true)
      expect(Object.keys(sessionRequirement(token, 'q/mine')).length).toBeGreaterThan(0)
      const r = await kv.get('q/theirs', { consistency: 'eventual' })
      expect(r?.value).toBe(1)
      expect(r?.session).toBe(kv.session())
      expect(sessionCovers(decodeSession(kv.session()).quorum, token)).toBe(true)
      // A strong call carries none either; its answer advances the same session.
      const strong = await kv.put('raft-key', 4, { consistency: 'strong', session: theirs })
      expect(strong.session).toBe(kv.session())
      expect(sessionCovers(decodeSession(strong.session).quorum, token)).toBe(true)
      expect(decodeSession(strong.session).raftIndex).toBeGreaterThan(0)
    })
  })

  it('lets a read-only client read but not write', async () => {
    await withClient(keys.writer, async (kv) => { await kv.put('cfg/a', 1) })
    await withClient(keys.reader, async (kv) => {
      expect((await kv.get('cfg/a'))?.value).toBe(1)
      await expect(kv.put('cfg/a', 2)).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
      await expect(kv.delete('cfg/a')).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
    })
    await withClient(keys.writer, async (kv) => { expect((await kv.get('cfg/a'))?.value).toBe(1) })
  })

  it('limits a client to its key prefix', async () => {
    await withClient(keys.scoped, async (kv) => {
      await kv.put('agents/7', 'mine')
      await expect(kv.get('cfg/a')).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
      await expect(kv.put('cfg/a', 3)).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
    })
  })

  it('refuses a client that is not allowed, and gives it no data', async () => {
    await withClient(keys.stranger, async (kv) => {
      const err = await kv.get('cfg/a').catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'UNAUTHORIZED' })
    })
  })
})
