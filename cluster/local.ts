import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { access, mkdir, open, readFile, rename, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateIdentity } from '../src/transport/libp2p/identity.js'
import { loadIdentity } from '../src/transport/libp2p/identity.js'
import { freePorts } from './ports.js'

/**
 * A local cluster of separate node processes on 127.0.0.1: identities, config files, a client key,
 * and `cluster.json` describing it all, so that tests, benchmarks, the CLI and the chaos harness
 * drive the same thing.
 */
export interface LocalClusterOptions {
  nodes: number
  /** Where identities, configs, data directories and cluster.json go. */
  dir: string
  /** First TCP port; node i listens on basePort + i. 0 picks free ports. */
  basePort?: number
  /** Merged into every node's config (for example `{ raft: { electionTimeoutMs: 500 } }`). */
  configOverrides?: Record<string, unknown>
  logLevel?: string
  /**
   * Where node logs go: 'inherit' (stderr of this process), 'ignore', a callback per line, or
   * 'files' (appended to `<dir>/<name>.log`; the default with `detach`).
   */
  logs?: 'inherit' | 'ignore' | 'files' | ((node: string, line: string) => void)
  startTimeoutMs?: number
  /** Extra Node.js flags for every node process (for example ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']). */
  nodeArgs?: string[]
  /**
   * Give every node `GET /metrics` and `/healthz` on 127.0.0.1 (`httpAddr` in cluster.json): port
   * basePort + 100 + i, or a free port when basePort is 0.
   */
  http?: boolean
  /**
   * Node processes that outlive this one: their own process group (a Ctrl-C here does not reach
   * them), logs to files, and nothing of this process keeps them or is kept by them once they
   * serve. Stop them with `stopRecordedCluster(dir)` (`quorumkv cluster down`).
   */
  detach?: boolean
  /** Called when a node process that was serving exits. */
  onExit?: (node: string, code: number | null, signal: NodeJS.Signals | null) => void
  /**
   * Start every node with an IPC channel to this process, so that `partition()` and `heal()` can
   * cut and restore links between nodes. For tests; not with `detach` (the channel ties the
   * processes together).
   */
  faultInjection?: boolean
}

export interface MemberInfo {
  name: string
  peerId: string
  multiaddrs: string[]
  pid: number | null
  dataDir: string
  httpAddr: string | null
  configFile: string
}

export interface ClusterFile {
  members: Array<Omit<MemberInfo, 'configFile'>>
  clientKey: string
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url))
const registerModule = join(repoRoot, 'src/runtime/register.js')
const nodeMain = join(repoRoot, 'cluster/node-main.ts')

export class LocalCluster {
  readonly dir: string
  readonly members: MemberInfo[]
  readonly clientKey: string
  private readonly processes = new Map<string, ChildProcess>()
  private fileWrites: Promise<void> = Promise.resolve()
  private readonly options: LocalClusterOptions
  private faultSeq = 0

  private constructor (options: LocalClusterOptions, members: MemberInfo[], clientKey: string) {
    this.options = options
    this.dir = options.dir
    this.members = members
    this.clientKey = clientKey
  }

  /** Writes identities and configs (kept if already there), starts every node, writes cluster.json. */
  static async start (options: LocalClusterOptions): Promise<LocalCluster> {
    if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 16) throw new Error('nodes must be 1 to 16')
    if (options.faultInjection === true && options.detach === true) throw new Error('faultInjection needs an IPC channel to each node, which a detached cluster cannot keep')
    const dir = resolve(options.dir)
    await mkdir(dir, { recursive: true })
    const clientKey = join(dir, 'client.key')
    const client = await identityAt(clientKey)
    const fixed = options.basePort !== undefined && options.basePort > 0
    const wanted = options.http === true ? 2 * options.nodes : options.nodes
    // One call for all of them: ports from two calls could coincide (each call releases its own).
    const free = fixed ? [] : await freePorts(wanted)
    const ports = fixed
      ? Array.from({ length: options.nodes }, (_, i) => (options.basePort as number) + i)
      : free.slice(0, options.nodes)
    const httpPorts = options.http !== true
      ? []
      : fixed
        ? Array.from({ length: options.nodes }, (_, i) => (options.basePort as number) + httpPortOffset + i)
        : free.slice(options.nodes)
    const members: MemberInfo[] = []
    for (let i = 0; i < options.nodes; i++) {
      const name = `node${i + 1}`
      const dataDir = join(dir, name)
      await mkdir(dataDir, { recursive: true })
      const { peerId } = await identityAt(join(dataDir, 'identity.key'))
      const httpAddr = httpPorts[i] === undefined ? null : `127.0.0.1:${httpPorts[i]}`
      members.push({ name, peerId, multiaddrs: [`/ip4/127.0.0.1/tcp/${ports[i] as number}/p2p/${peerId}`], pid: null, dataDir, httpAddr, configFile: join(dir, `${name}.json`) })
    }
    for (const [i, m] of members.entries()) {
      const config = deepMerge({
        schemaVersion: 1,
        name: m.name,
        dataDir: m.dataDir,
        listen: [`/ip4/127.0.0.1/tcp/${ports[i] as number}`],
        logging: { level: options.logLevel ?? 'info' },
        // No roles: the first raft.voters members vote (3 by default), the rest are learners.
        cluster: { members: members.map(o => ({ peerId: o.peerId, name: o.name, multiaddrs: o.multiaddrs })) },
        access: { clients: [{ peerId: client.peerId, rights: 'read-write', prefix: '' }] },
        ...(m.httpAddr !== null ? { http: { listen: m.httpAddr } } : {})
      }, options.configOverrides ?? {})
      await writeFile(m.configFile, `${JSON.stringify(config, null, 2)}\n`)
    }
    const cluster = new LocalCluster({ ...options, dir }, members, clientKey)
    try {
      await Promise.all(members.map(async m => { await cluster.startMember(m.name) }))
    } catch (err) {
      await cluster.stopAll()
      throw err
    }
    return cluster
  }

  get peers (): string[] {
    return this.members.flatMap(m => m.multiaddrs)
  }

  member (name: string): MemberInfo {
    const m = this.members.find(x => x.name === name || x.peerId === name)
    if (m === undefined) throw new Error(`no member ${name}`)
    return m
  }

  /** Starts (or restarts) one node process and waits until it serves. */
  async startMember (name: string): Promise<void> {
    const m = this.member(name)
    if (this.processes.has(m.name)) throw new Error(`${m.name} is already running`)
    const detach = this.options.detach === true
    const logs = this.options.logs ?? (detach ? 'files' : 'ignore')
    const logFile = join(this.dir, `${m.name}.log`)
    // The child gets its own descriptor of the log file, so its logs outlive this process.
    const logHandle = logs === 'files' ? await open(logFile, 'a') : undefined
    const logOffset = logHandle === undefined ? 0 : (await logHandle.stat()).size
    let child: ChildProcess
    try {
      child = spawn(process.execPath, [...(this.options.nodeArgs ?? []), '--import', registerModule, nodeMain, m.configFile], {
        cwd: repoRoot,
        detached: detach,
        stdio: ['ignore', 'pipe', logHandle !== undefined ? logHandle.fd : logs === 'inherit' ? 'inherit' : 'pipe', ...(this.options.faultInjection === true ? ['ipc' as const] : [])]
      })
    } finally {
      await logHandle?.close()
    }
    this.processes.set(m.name, child)
    // The last lines a node wrote, to say why it did not start.
    const tail: string[] = []
    if (child.stderr !== null && logs !== 'inherit') {
      createInterface({ input: child.stderr }).on('line', line => {
        tail.push(line)
        if (tail.length > startTailLinesMax) tail.shift()
        if (typeof logs === 'function') logs(m.name, line)
      })
    }
    child.once('exit', () => { this.processes.delete(m.name); m.pid = null })
    const timeoutMs = this.options.startTimeoutMs ?? 30_000
    const why = async (): Promise<string> => {
      const lines = logs === 'files' ? await readTail(logFile, logOffset) : tail
      const reason = startFailure(lines)
      return `${reason === undefined ? '' : `: ${reason}`}${logs === 'files' ? `; see ${logFile}` : ''}`
    }
    await new Promise<void>((resolveStart, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        why().then(w => { reject(new Error(`${m.name} did not start within ${timeoutMs} ms${w}`)) }, reject)
      }, timeoutMs)
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        why().then(w => { reject(new Error(`${m.name} exited during start (code ${String(code)}, signal ${String(signal)})${w}`)) }, reject)
      })
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', line => {
        let msg: { event?: string, pid?: number }
        try { msg = JSON.parse(line) as typeof msg } catch { return }
        if (msg.event === 'listening') {
          clearTimeout(timer)
          m.pid = child.pid ?? null
          child.removeAllListeners('exit')
          child.once('exit', (code, signal) => {
            this.processes.delete(m.name)
            m.pid = null
            this.options.onExit?.(m.name, code, signal)
          })
          if (detach) {
            // node-main writes nothing to stdout after this line; let go of the child entirely.
            child.stdout?.destroy()
            child.unref()
          }
          resolveStart()
        }
      })
    })
    await this.writeClusterFile()
  }

  /** Sends a signal to one node (SIGKILL for a crash, SIGTERM for a clean stop) and waits for it to exit. */
  async kill (name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const m = this.member(name)
    const child = this.processes.get(m.name)
    if (child === undefined) return
    // A detached child was unref'd: hold the event loop until its exit is seen.
    child.ref()
    const done = new Promise<void>(resolveExit => { child.once('exit', () => { resolveExit() }) })
    child.kill(signal)
    await done
  }

  /**
   * Splits the running cluster into `groups` (member names; every member in exactly one): each
   * node cuts its links to every node outside its group, and the nodes on the other side cut
   * theirs too, so dials fail at once in both directions (see src/transport/libp2p/link-faults.ts).
   * Resolves once every node applied its cut. A cut replaces an earlier one; a restarted node
   * starts uncut. Needs `faultInjection`.
   */
  async partition (groups: readonly string[][]): Promise<void> {
    const groupOf = new Map<string, number>()
    for (const [i, group] of groups.entries()) {
      for (const name of group) {
        const m = this.member(name)
        if (groupOf.has(m.name)) throw new Error(`${m.name} is in more than one group`)
        groupOf.set(m.name, i)
      }
    }
    const left = this.members.filter(m => !groupOf.has(m.name)).map(m => m.name)
    if (left.length > 0) throw new Error(`every member must be in a group; missing: ${left.join(', ')}`)
    await Promise.all(this.members.map(async (m) => {
      const peers = this.members.filter(o => groupOf.get(o.name) !== groupOf.get(m.name)).map(o => o.peerId)
      await this.fault(m.name, { type: 'cut', peers }, 'cut-done')
    }))
  }

  /** Restores every link that `partition()` cut, on every running node; resolves once all did. */
  async heal (): Promise<void> {
    await Promise.all(this.members.filter(m => this.processes.has(m.name)).map(async (m) => {
      await this.fault(m.name, { type: 'heal' }, 'heal-done')
    }))
  }

  /** Sends one link-fault message to a node and waits for its answer (bounded). */
  private async fault (name: string, message: Record<string, unknown>, expected: string): Promise<void> {
    const child = this.processes.get(name)
    if (this.options.faultInjection !== true) throw new Error('partition() and heal() need a cluster started with faultInjection: true')
    if (child === undefined || child.send === undefined || !child.connected) throw new Error(`${name} is not running`)
    const id = ++this.faultSeq
    await new Promise<void>((resolveFault, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer)
        child.off('message', onMessage)
        child.off('exit', onExit)
        if (err === undefined) resolveFault()
        else reject(err)
      }
      const onMessage = (reply: unknown): void => {
        const r = reply as { type?: unknown, id?: unknown, message?: unknown }
        if (r === null || typeof r !== 'object' || r.id !== id) return
        done(r.type === expected ? undefined : new Error(`${name} refused ${String(message.type)}: ${String(r.message ?? r.type)}`))
      }
      const onExit = (): void => { done(new Error(`${name} exited before it applied ${String(message.type)}`)) }
      const timer = setTimeout(() => { done(new Error(`${name} did not apply ${String(message.type)} within ${faultTimeoutMs} ms`)) }, faultTimeoutMs)
      child.on('message', onMessage)
      child.once('exit', onExit)
      child.send({ ...message, id }, (err) => { if (err !== null) done(err) })
    })
  }

  async stopAll (): Promise<void> {
    await Promise.all(this.members.map(async m => { await this.kill(m.name, 'SIGTERM') }))
    // Stopped nodes have no pid; a caller may already have removed the directory.
    await this.writeClusterFile().catch(() => {})
  }

  private async writeClusterFile (): Promise<void> {
    // Nodes start in parallel: one write at a time, each whole (readers never see half a file).
    const write = async (): Promise<void> => {
      const file: ClusterFile = { members: this.members.map(({ configFile: _c, ...rest }) => rest), clientKey: this.clientKey }
      await writeClusterFileAtomically(this.dir, file)
    }
    this.fileWrites = this.fileWrites.then(write, write)
    await this.fileWrites
  }
}

async function writeClusterFileAtomically (dir: string, file: ClusterFile): Promise<void> {
  const path = join(dir, 'cluster.json')
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`)
  await rename(tmp, path)
}

/** Node i's HTTP port is basePort + httpPortOffset + i, clear of the libp2p ports of up to 16 nodes. */
const httpPortOffset = 100
const stopTimeoutMs = 15_000
const startTailLinesMax = 40
const startTailBytesMax = 16 * 1024
const killTimeoutMs = 3_000
const faultTimeoutMs = 5_000
const exitPollMs = 50

async function readTail (path: string, from: number): Promise<string[]> {
  try {
    const handle = await open(path, 'r')
    try {
      const size = (await handle.stat()).size
      const start = Math.max(from, size - startTailBytesMax)
      const buffer = Buffer.alloc(Math.max(0, size - start))
      await handle.read(buffer, 0, buffer.length, start)
      return buffer.toString('utf8').split('\n')
    } finally {
      await handle.close()
    }
  } catch {
    return []
  }
}

/** The most telling line of a failed start: the last error message, not a stack frame. */
function startFailure (lines: string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = (lines[i] as string).trim()
    if (line.startsWith('at ') || line === '') continue
    try {
      const entry = JSON.parse(line) as { level?: number, msg?: string, err?: { message?: string } }
      if (typeof entry.level === 'number' && entry.level >= 50) return entry.err?.message ?? entry.msg
      continue
    } catch { /* not a log line */ }
    if (/Error\b/.test(line)) return line.length > 300 ? `${line.slice(0, 300)}…` : line
  }
  return undefined
}

/** `<dir>/cluster.json`, checked; null when there is none. */
export async function readClusterFile (dir: string): Promise<ClusterFile | null> {
  const path = join(resolve(dir), 'cluster.json')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  return parseClusterFile(text, path)
}

export function parseClusterFile (text: string, path = 'cluster.json'): ClusterFile {
  let raw: unknown
  try { raw = JSON.parse(text) } catch { throw new Error(`${path} is not JSON`) }
  const bad = (what: string): Error => new Error(`${path}: ${what}`)
  const f = raw as Partial<Record<keyof ClusterFile, unknown>>
  if (raw === null || typeof raw !== 'object' || typeof f.clientKey !== 'string' || !Array.isArray(f.members) || f.members.length > 256) throw bad('expected { members: [...], clientKey }')
  const members = f.members.map((m: unknown, i) => {
    const x = m as Record<string, unknown>
    if (x === null || typeof x !== 'object' || typeof x.name !== 'string' || typeof x.peerId !== 'string' || typeof x.dataDir !== 'string' ||
      !Array.isArray(x.multiaddrs) || !x.multiaddrs.every(a => typeof a === 'string') ||
      !(x.pid === null || Number.isSafeInteger(x.pid)) || !(x.httpAddr === null || x.httpAddr === undefined || typeof x.httpAddr === 'string')) {
      throw bad(`members[${i}] must have name, peerId, multiaddrs, pid, dataDir, httpAddr`)
    }
    return { name: x.name, peerId: x.peerId, multiaddrs: x.multiaddrs as string[], pid: x.pid as number | null, dataDir: x.dataDir, httpAddr: (x.httpAddr ?? null) as string | null }
  })
  return { members, clientKey: f.clientKey }
}

/**
 * Whether `pid` is the node process of `configFile` that LocalCluster started: a recorded pid may
 * since belong to an unrelated process, which must never be signalled.
 */
export async function isNodeProcess (pid: number, configFile: string): Promise<boolean> {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  let args: string[]
  try {
    args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
  } catch {
    // No /proc (macOS): ask ps. A zombie shows as <defunct> and so counts as gone.
    const command = await new Promise<string>((resolveCommand) => {
      execFile('ps', ['-p', String(pid), '-o', 'command='], (err, stdout) => { resolveCommand(err === null ? stdout : '') })
    })
    return command.includes(nodeMain) && command.includes(configFile)
  }
  return args.includes(nodeMain) && args.includes(configFile)
}

export interface StoppedMember {
  name: string
  pid: number | null
  /** stopped: exited on SIGTERM; killed: needed SIGKILL; not-running: no such node process any more. */
  result: 'stopped' | 'killed' | 'not-running' | 'failed'
}

/** The members of `<dir>/cluster.json` whose recorded pid is still their node process. */
export async function runningRecordedMembers (dir: string): Promise<Array<ClusterFile['members'][number]>> {
  const file = await readClusterFile(dir)
  if (file === null) return []
  const root = resolve(dir)
  const alive = await Promise.all(file.members.map(async m => m.pid !== null && await isNodeProcess(m.pid, join(root, `${m.name}.json`))))
  return file.members.filter((_, i) => alive[i] === true)
}

/**
 * Stops the node processes recorded in `<dir>/cluster.json` (a detached cluster), and only those:
 * SIGTERM, then SIGKILL after a bound. Clears their pids in the file. Null when there is no file.
 */
export async function stopRecordedCluster (dir: string): Promise<StoppedMember[] | null> {
  const root = resolve(dir)
  const file = await readClusterFile(root)
  if (file === null) return null
  const results = await Promise.all(file.members.map(async (m): Promise<StoppedMember> => {
    const configFile = join(root, `${m.name}.json`)
    if (m.pid === null || !await isNodeProcess(m.pid, configFile)) return { name: m.name, pid: m.pid, result: 'not-running' }
    const pid = m.pid
    process.kill(pid, 'SIGTERM')
    if (await exitedWithin(pid, configFile, stopTimeoutMs)) return { name: m.name, pid, result: 'stopped' }
    try { process.kill(pid, 'SIGKILL') } catch { return { name: m.name, pid, result: 'stopped' } }
    return { name: m.name, pid, result: await exitedWithin(pid, configFile, killTimeoutMs) ? 'killed' : 'failed' }
  }))
  const stillRunning = new Set(results.filter(r => r.result === 'failed').map(r => r.name))
  const updated: ClusterFile = { ...file, members: file.members.map(m => stillRunning.has(m.name) ? m : { ...m, pid: null }) }
  await writeClusterFileAtomically(root, updated)
  return results
}

async function exitedWithin (pid: number, configFile: string, timeoutMs: number): Promise<boolean> {
  const polls = Math.ceil(timeoutMs / exitPollMs)
  for (let i = 0; i < polls; i++) {
    if (!await isNodeProcess(pid, configFile)) return true
    await new Promise(resolveSleep => setTimeout(resolveSleep, exitPollMs))
  }
  return !await isNodeProcess(pid, configFile)
}

async function identityAt (path: string): Promise<{ peerId: string }> {
  try {
    await access(path)
    return await loadIdentity(path)
  } catch {
    return await generateIdentity(path)
  }
}


function deepMerge (base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(extra)) {
    const b = out[k]
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) && b !== null && typeof b === 'object' && !Array.isArray(b)
      ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>)
      : v
  }
  return out
}
