import type { ConsistencyLevel } from '../../api/consistency.js'
import type { Client, ReadOptions, WriteOptions, WriteResult } from '../../api/types.js'
import { ExitCode, UsageError } from '../errors.js'
import { bytesAsBase64, parseConsistency, parseIntFlag, parseValue, showValue } from '../parse.js'
import { describePeer, resolveTarget, type Target, type TargetOptions } from '../target.js'
import type { CliIo } from '../io.js'

export interface KvOptions extends TargetOptions {
  consistency?: string
  maxStalenessMs?: string
  ifMatch?: string
  session?: string
  string?: boolean
  json?: boolean
  debug?: boolean
}

/** `quorumkv put KEY VALUE`: prints the new version and etag (`--json`: the whole result). */
export async function runPut (key: string, rawValue: string, options: KvOptions, io: CliIo): Promise<number> {
  const value = parseValue(rawValue, options.string === true)
  const writeOptions = writeOptionsOf(options)
  return await withClient(options, io, async (kv) => {
    printWrite(await kv.put(key, value, writeOptions), options, io)
    return ExitCode.Ok
  })
}

/** `quorumkv del KEY`. */
export async function runDelete (key: string, options: KvOptions, io: CliIo): Promise<number> {
  const writeOptions = writeOptionsOf(options)
  return await withClient(options, io, async (kv) => {
    printWrite(await kv.delete(key, writeOptions), options, io)
    return ExitCode.Ok
  })
}

/** `quorumkv get KEY`: prints the value (text as is, else JSON); exit 3 when there is none. */
export async function runGet (key: string, options: KvOptions, io: CliIo): Promise<number> {
  const readOptions: ReadOptions = {}
  if (options.consistency !== undefined) readOptions.consistency = parseConsistency(options.consistency)
  if (options.maxStalenessMs !== undefined) readOptions.maxStalenessMs = parseIntFlag('--max-staleness-ms', options.maxStalenessMs, 0, 24 * 3600 * 1000)
  if (readOptions.consistency === 'bounded' && readOptions.maxStalenessMs === undefined) {
    throw new UsageError('--consistency bounded needs --max-staleness-ms N: the most staleness you accept')
  }
  if (options.session !== undefined) readOptions.session = options.session
  if (options.ifMatch !== undefined) throw new UsageError('--if-match applies to put and del, not get')
  return await withClient(options, io, async (kv) => {
    const entry = await kv.get(key, readOptions)
    if (options.json === true) {
      io.out(`${JSON.stringify(entry ?? null, bytesAsBase64)}\n`)
    } else if (entry !== undefined) {
      io.out(`${showValue(entry.value)}\n`)
      if (entry.siblings !== undefined && entry.siblings.length > 1) io.err(`note: ${entry.siblings.length} concurrent values (siblings); --json shows them all\n`)
    } else {
      io.err(`not found: ${key}\n`)
    }
    return entry === undefined ? ExitCode.NotFound : ExitCode.Ok
  })
}

function writeOptionsOf (options: KvOptions): WriteOptions {
  const out: WriteOptions = {}
  if (options.consistency !== undefined) out.consistency = parseConsistency(options.consistency) as ConsistencyLevel
  if (options.maxStalenessMs !== undefined) throw new UsageError('--max-staleness-ms applies to get, not to writes')
  if (options.ifMatch !== undefined) out.ifMatch = options.ifMatch
  if (options.session !== undefined) out.session = options.session
  return out
}

function printWrite (result: WriteResult, options: KvOptions, io: CliIo): void {
  if (options.json === true) io.out(`${JSON.stringify(result)}\n`)
  else io.out(`ok ${result.key} version ${result.version} etag ${result.etag}\n`)
}

async function withClient (options: KvOptions, io: CliIo, fn: (kv: Client) => Promise<number>): Promise<number> {
  const target: Target = await resolveTarget(options)
  // Loaded only now: libp2p takes a while to load, and bad arguments should not wait for it.
  const { connect } = await import('../../client/connect.js')
  const debug = options.debug === true
  const kv = await connect({
    peers: target.peers,
    identity: target.identity,
    requestTimeoutMs: target.timeoutMs,
    onServed: debug ? (info) => { io.err(`debug: ${info.op} ${info.key} served by ${describePeer(target, info.peer)} after ${info.attempts} attempt${info.attempts === 1 ? '' : 's'}\n`) } : undefined
  })
  try {
    return await fn(kv)
  } finally {
    await kv.close()
  }
}
