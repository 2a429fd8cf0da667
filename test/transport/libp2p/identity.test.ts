import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ConfigError, InvalidArgumentError } from '../../../src/api/errors.js'
import { generateIdentity, loadIdentity, loadOrCreateIdentity } from '../../../src/transport/libp2p/identity.js'

describe('identity files', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'qkv-id-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('generateIdentity writes an Ed25519 key readable only by its owner and returns its peer id', async () => {
    const path = join(dir, 'sub', 'node.key')
    const { peerId } = await generateIdentity(path)
    expect(peerId).toMatch(/^12D3KooW/)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const loaded = await loadIdentity(path)
    expect(loaded.peerId).toBe(peerId)
    expect(loaded.privateKey.type).toBe('Ed25519')
  })

  it('generateIdentity refuses to overwrite an existing key unless asked', async () => {
    const path = join(dir, 'node.key')
    const first = await generateIdentity(path)
    await expect(generateIdentity(path)).rejects.toBeInstanceOf(InvalidArgumentError)
    expect((await loadIdentity(path)).peerId).toBe(first.peerId)
    const second = await generateIdentity(path, { overwrite: true })
    expect(second.peerId).not.toBe(first.peerId)
    expect((await loadIdentity(path)).peerId).toBe(second.peerId)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
  })

  it('loadOrCreateIdentity creates the key once and returns the same peer id ever after', async () => {
    const path = join(dir, 'data', 'peer.key')
    const a = await loadOrCreateIdentity(path)
    const b = await loadOrCreateIdentity(path)
    expect(b.peerId).toBe(a.peerId)
  })

  it('concurrent loadOrCreateIdentity calls agree on one key', async () => {
    const path = join(dir, 'peer.key')
    const ids = await Promise.all(Array.from({ length: 5 }, async () => (await loadOrCreateIdentity(path)).peerId))
    expect(new Set(ids).size).toBe(1)
  })

  it.skipIf(process.platform === 'win32')('loadIdentity refuses a key file other users can read', async () => {
    const path = join(dir, 'node.key')
    await generateIdentity(path)
    await chmod(path, 0o644)
    await expect(loadIdentity(path)).rejects.toThrow(/chmod 600/)
  })

  it('loadIdentity gives a ConfigError for a missing or garbage file', async () => {
    await expect(loadIdentity(join(dir, 'missing.key'))).rejects.toBeInstanceOf(ConfigError)
    const path = join(dir, 'garbage.key')
    await writeFile(path, 'not a key', { mode: 0o600 })
    await expect(loadIdentity(path)).rejects.toBeInstanceOf(ConfigError)
  })
})
