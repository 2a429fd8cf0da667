import { access, mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { loadIdentity, generateIdentity } from '../../transport/libp2p/identity.js'
import { UsageError } from '../errors.js'
import { parseMultiaddrs } from '../parse.js'
import type { CliIo } from '../io.js'

export interface InitOptions {
  dataDir?: string
  name?: string
  listen?: string[]
}

/**
 * `quorumkv init`: the node's identity (kept if there is one: a new key would be a new peer id)
 * and, when there is none yet, a starter config beside it. Prints the peer id alone on stdout so
 * scripts can capture it; what to do next goes to stderr.
 */
export async function runInit (options: InitOptions, io: CliIo): Promise<void> {
  if (options.dataDir === undefined) throw new UsageError('init needs --data-dir DIR')
  if (options.name !== undefined && !/^.{1,64}$/.test(options.name)) throw new UsageError('--name must be 1 to 64 characters')
  const listen = parseMultiaddrs('--listen', options.listen ?? [])
  const dataDir = resolve(options.dataDir)
  const keyFile = join(dataDir, 'identity.key')
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  let peerId: string
  let created: boolean
  if (await exists(keyFile)) {
    peerId = (await loadIdentity(keyFile)).peerId
    created = false
  } else {
    peerId = (await generateIdentity(keyFile)).peerId
    created = true
  }
  const configFile = join(dataDir, 'config.json')
  const writeConfig = !await exists(configFile)
  if (writeConfig) {
    const config = {
      schemaVersion: 1,
      dataDir,
      ...(options.name !== undefined ? { name: options.name } : {}),
      listen: listen.length > 0 ? listen : ['/ip4/127.0.0.1/tcp/7001']
    }
    await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 })
  }
  io.out(`${peerId}\n`)
  io.err(`${created ? 'created' : 'kept the existing'} identity ${keyFile}\n` +
    (writeConfig ? `wrote ${configFile}; run the node with: quorumkv start --config ${configFile}\n` : `config ${configFile} exists; left as is\n`))
}

async function exists (path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
