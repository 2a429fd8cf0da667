import { spawn, type ChildProcess } from 'node:child_process'
import { access, mkdir, writeFile } from 'node:fs/promises'
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
  /** Where node logs go: 'inherit' (stderr of this process), 'ignore', or a callback per line. */
  logs?: 'inherit' | 'ignore' | ((node: string, line: string) => void)
  startTimeoutMs?: number
  /** Extra Node.js flags for every node process (for example ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']). */
  nodeArgs?: string[]
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
  private readonly options: LocalClusterOptions

  private constructor (options: LocalClusterOptions, members: MemberInfo[], clientKey: string) {
    this.options = options
    this.dir = options.dir
    this.members = members
    this.clientKey = clientKey
  }

  /** Writes identities and configs (kept if already there), starts every node, writes cluster.json. */
  static async start (options: LocalClusterOptions): Promise<LocalCluster> {
    if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 16) throw new Error('nodes must be 1 to 16')
    const dir = resolve(options.dir)
    await mkdir(dir, { recursive: true })
    const clientKey = join(dir, 'client.key')
    const client = await identityAt(clientKey)
    const ports = options.basePort !== undefined && options.basePort > 0
      ? Array.from({ length: options.nodes }, (_, i) => (options.basePort as number) + i)
      : await freePorts(options.nodes)
    const members: MemberInfo[] = []
    for (let i = 0; i < options.nodes; i++) {
      const name = `node${i + 1}`
      const dataDir = join(dir, name)
      await mkdir(dataDir, { recursive: true })
      const { peerId } = await identityAt(join(dataDir, 'identity.key'))
      members.push({ name, peerId, multiaddrs: [`/ip4/127.0.0.1/tcp/${ports[i] as number}/p2p/${peerId}`], pid: null, dataDir, httpAddr: null, configFile: join(dir, `${name}.json`) })
    }
    for (const [i, m] of members.entries()) {
      const config = deepMerge({
        schemaVersion: 1,
        name: m.name,
        dataDir: m.dataDir,
        listen: [`/ip4/127.0.0.1/tcp/${ports[i] as number}`],
        logging: { level: options.logLevel ?? 'info' },
        cluster: { members: members.map(o => ({ peerId: o.peerId, name: o.name, multiaddrs: o.multiaddrs, role: 'voter' })) },
        access: { clients: [{ peerId: client.peerId, rights: 'read-write', prefix: '' }] }
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
    const logs = this.options.logs ?? 'ignore'
    const child = spawn(process.execPath, [...(this.options.nodeArgs ?? []), '--import', registerModule, nodeMain, m.configFile], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', logs === 'inherit' ? 'inherit' : 'pipe']
    })
    this.processes.set(m.name, child)
    if (typeof logs === 'function' && child.stderr !== null) createInterface({ input: child.stderr }).on('line', line => { logs(m.name, line) })
    else if (logs === 'ignore') child.stderr?.resume()
    child.once('exit', () => { this.processes.delete(m.name); m.pid = null })
    const timeoutMs = this.options.startTimeoutMs ?? 30_000
    await new Promise<void>((resolveStart, reject) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${m.name} did not start within ${timeoutMs} ms`)) }, timeoutMs)
      child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`${m.name} exited during start (code ${String(code)}, signal ${String(signal)})`)) })
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', line => {
        let msg: { event?: string, pid?: number }
        try { msg = JSON.parse(line) as typeof msg } catch { return }
        if (msg.event === 'listening') {
          clearTimeout(timer)
          m.pid = child.pid ?? null
          child.removeAllListeners('exit')
          child.once('exit', () => { this.processes.delete(m.name); m.pid = null })
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
    const done = new Promise<void>(resolveExit => { child.once('exit', () => { resolveExit() }) })
    child.kill(signal)
    await done
  }

  async stopAll (): Promise<void> {
    await Promise.all(this.members.map(async m => { await this.kill(m.name, 'SIGTERM') }))
  }

  private async writeClusterFile (): Promise<void> {
    const file: ClusterFile = { members: this.members.map(({ configFile: _c, ...rest }) => rest), clientKey: this.clientKey }
    await writeFile(join(this.dir, 'cluster.json'), `${JSON.stringify(file, null, 2)}\n`)
  }
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
