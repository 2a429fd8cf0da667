import { constants } from 'node:fs'
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { ConfigError, InvalidArgumentError } from '../../api/errors.js'

/**
 * A node's (or a client's) long-term identity: an Ed25519 key whose public half is its peer id.
 * The file holds the protobuf encoding of the private key (the format every libp2p
 * implementation reads), mode 0600.
 */
export interface Identity {
  readonly peerId: string
  readonly privateKey: PrivateKey
}

export interface GenerateIdentityOptions {
  /** Replace an existing key file. Off by default: losing a key changes the node's peer id. */
  overwrite?: boolean
}

/** A protobuf Ed25519 key is 68 bytes; anything much larger is not a key file. */
const keyFileBytesMax = 16 * 1024

const groupOrOtherBits = 0o077

export async function generateIdentity (path: string, options: GenerateIdentityOptions = {}): Promise<{ peerId: string }> {
  const privateKey = await generateKeyPair('Ed25519')
  const bytes = privateKeyToProtobuf(privateKey)
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  if (options.overwrite === true) {
    await writeReplacing(path, bytes)
  } else {
    await writeExclusive(path, bytes)
  }
  return { peerId: peerIdFromPrivateKey(privateKey).toString() }
}

export async function loadIdentity (path: string): Promise<Identity> {
  let info
  try {
    info = await stat(path)
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new ConfigError(`identity file ${path} does not exist: create it with generateIdentity() or \`quorumkv init\``, { path }, { cause: err })
    throw new ConfigError(`identity file ${path} cannot be read: ${(err as Error).message}`, { path }, { cause: err })
  }
  if (!info.isFile()) throw new ConfigError(`identity file ${path} is not a regular file`, { path })
  // Like ssh: a private key others can read is no longer private, so refuse it loudly.
  if (process.platform !== 'win32' && (info.mode & groupOrOtherBits) !== 0) {
    throw new ConfigError(`identity file ${path} is readable by other users (mode ${(info.mode & 0o777).toString(8)}): run \`chmod 600 ${path}\``, { path })
  }
  if (info.size > keyFileBytesMax) throw new ConfigError(`identity file ${path} is ${info.size} bytes, too large to be a key file`, { path })
  const bytes = await readFile(path)
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new ConfigError(`identity file ${path} does not hold a libp2p private key: ${(err as Error).message}`, { path }, { cause: err })
  }
  if (privateKey.type !== 'Ed25519') throw new ConfigError(`identity file ${path} holds a ${privateKey.type} key; quorumkv uses Ed25519`, { path })
  return { peerId: peerIdFromPrivateKey(privateKey).toString(), privateKey }
}

/** The node's identity in its data dir: created on first start, the same peer id ever after. */
export async function loadOrCreateIdentity (path: string): Promise<Identity> {
  try {
    await stat(path)
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw new ConfigError(`identity file ${path} cannot be read: ${(err as Error).message}`, { path }, { cause: err })
    try {
      await generateIdentity(path)
    } catch (genErr) {
      // Another process created it between our stat and our exclusive create: use theirs.
      if (!(genErr instanceof InvalidArgumentError)) throw genErr
    }
  }
  return await loadIdentity(path)
}

/**
 * Writes the whole key to a private temporary file, then links it into place: link() fails if
 * the file exists, so a key is never clobbered, and a reader racing a writer never sees a partly
 * written file (the name appears only once the content is complete and synced).
 */
async function writeExclusive (path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  let handle
  try {
    handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
    await handle.writeFile(bytes)
    await handle.sync()
  } catch (err) {
    await handle?.close()
    await unlink(tmp).catch(() => {})
    throw new ConfigError(`cannot write identity file ${path}: ${(err as Error).message}`, { path }, { cause: err })
  }
  await handle.close()
  try {
    await link(tmp, path)
  } catch (err) {
    if (isErrno(err, 'EEXIST')) throw new InvalidArgumentError(`identity file ${path} already exists: keep it (it is the peer id), or pass { overwrite: true }`, { path }, { cause: err })
    throw new ConfigError(`cannot create identity file ${path}: ${(err as Error).message}`, { path }, { cause: err })
  } finally {
    await unlink(tmp).catch(() => {})
  }
  await syncDir(dirname(path))
}

async function writeReplacing (path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600)
  try {
    await handle.chmod(0o600) // O_CREAT's mode does not apply when the temp file already existed
    await handle.writeFile(bytes)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(tmp, path)
  await syncDir(dirname(path))
}

async function syncDir (dir: string): Promise<void> {
  // The new directory entry must survive a power loss too; some platforms refuse to open dirs.
  try {
    const handle = await open(dir, constants.O_RDONLY)
    try { await handle.sync() } finally { await handle.close() }
  } catch {
    // Best effort: the key file itself was synced; losing only the entry is unlikely.
  }
}

function isErrno (err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code
}
