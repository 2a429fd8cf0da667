import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { pino } from 'pino'
import { createNode } from '../../index.js'
import { UsageError } from '../errors.js'
import { parseHttpListen, parseMultiaddrs, parsePeerId } from '../parse.js'
import { prettyDestination } from '../pretty-log.js'
import type { CliIo } from '../io.js'

export interface StartOptions {
  config?: string
  dataDir?: string
  name?: string
  listen?: string[]
  join?: string[]
  http?: string
  allowClient?: string[]
  logLevel?: string
  logFormat?: string
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const configFileBytesMax = 4 * 1024 * 1024
const stopTimeoutMs = 15_000

/**
 * `quorumkv start`: one node in the foreground until SIGINT or SIGTERM, which stop it cleanly
 * (exit 0). Flags override the config file's fields. Logs: JSON lines on stdout, readable lines
 * when stdout is a terminal.
 */
export async function runStart (options: StartOptions, io: CliIo): Promise<number> {
  const config = options.config === undefined ? {} : await readConfigFile(options.config)
  if (options.dataDir !== undefined) config.dataDir = resolve(options.dataDir)
  if (config.dataDir === undefined) throw new UsageError('start needs --config FILE or --data-dir DIR')
  if (config.schemaVersion === undefined) config.schemaVersion = 1
  if (options.name !== undefined) config.name = options.name
  if (options.listen !== undefined) config.listen = parseMultiaddrs('--listen', options.listen)
  if (options.join !== undefined) config.cluster = { ...asObject(config.cluster), join: parseMultiaddrs('--join', options.join) }
  if (options.http !== undefined) config.http = { ...asObject(config.http), listen: parseHttpListen(options.http) }
  if (options.allowClient !== undefined) {
    const access = asObject(config.access)
    const clients = Array.isArray(access.clients) ? access.clients as unknown[] : []
    config.access = { ...access, clients: [...clients, ...options.allowClient.map(peerId => ({ peerId: parsePeerId(peerId), rights: 'read-write', prefix: '' }))] }
  }
  if (options.logLevel !== undefined) {
    if (!logLevels.includes(options.logLevel)) throw new UsageError(`--log-level must be one of ${logLevels.join(', ')}`)
    config.logging = { ...asObject(config.logging), level: options.logLevel }
  }
  const format = options.logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json')
  if (format !== 'json' && format !== 'pretty') throw new UsageError('--log-format must be json or pretty')
  const level = (asObject(config.logging).level as string | undefined) ?? 'info'
  const base = { name: typeof config.name === 'string' ? config.name : 'quorumkv' }
  const logger = format === 'pretty'
    ? pino({ level, base }, prettyDestination(process.stdout, process.stdout.isTTY === true))
    : pino({ level, base }, pino.destination({ dest: 1, sync: true }))

  const node = await createNode(config, { logger })
  if (format === 'pretty') {
    io.err(`serving as ${node.peerId}${node.multiaddrs.length > 0 ? ` on ${node.multiaddrs.join(', ')}` : ' (no network: set --listen)'}; Ctrl-C stops\n`)
  }
  return await new Promise<number>((resolveExit) => {
    let stopping = false
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        io.err(`${signal} again: exiting without a clean stop\n`)
        resolveExit(130)
        return
      }
      stopping = true
      logger.info({ event: 'signal', signal }, 'stopping')
      const timer = setTimeout(() => {
        io.err(`the node did not stop within ${stopTimeoutMs} ms\n`)
        resolveExit(1)
      }, stopTimeoutMs)
      node.stop().then(() => { clearTimeout(timer); resolveExit(0) }, (err: unknown) => {
        clearTimeout(timer)
        io.err(`stop failed: ${(err as Error).message}\n`)
        resolveExit(1)
      })
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}

async function readConfigFile (path: string): Promise<Record<string, unknown>> {
  let text: string
  try {
    const bytes = await readFile(path)
    if (bytes.byteLength > configFileBytesMax) throw new UsageError(`config file ${path} is larger than ${configFileBytesMax} bytes`)
    text = bytes.toString('utf8')
  } catch (err) {
    if (err instanceof UsageError) throw err
    throw new UsageError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  let config: unknown
  try {
    config = JSON.parse(text)
  } catch (err) {
    throw new UsageError(`config file ${path} is not valid JSON: ${(err as Error).message}`)
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new UsageError(`config file ${path} must hold a JSON object`)
  return config as Record<string, unknown>
}

function asObject (value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : {}
}
