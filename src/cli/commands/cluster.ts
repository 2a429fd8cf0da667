import { isAbsolute, relative, resolve } from 'node:path'
import { LocalCluster, readClusterFile, runningRecordedMembers, stopRecordedCluster, type ClusterFile } from '../../../cluster/local.js'
import { AdminClient } from '../admin-client.js'
import { formatView, gatherClusterView, table, transportAddress, type ClusterView } from '../cluster-view.js'
import { CliError, ExitCode, UsageError } from '../errors.js'
import { parseIntFlag } from '../parse.js'
import { defaultDir } from '../defaults.js'
import type { CliIo } from '../io.js'

export interface ClusterUpOptions {
  nodes: string
  dir: string
  basePort: string
  detach?: boolean
  logLevel?: string
  timeoutMs?: string
}

const readyPollMs = 250
const watchIntervalMs = 2_000
const statusTimeoutMs = 2_000
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace']

/**
 * `quorumkv cluster up`: N node processes on 127.0.0.1 (cluster/local.ts), ready once a leader is
 * elected. In the foreground it prints a line when the leader or a member's reachability changes
 * and stops the nodes on Ctrl-C; with --detach it returns and leaves them running.
 */
export async function runClusterUp (options: ClusterUpOptions, io: CliIo): Promise<number> {
  const nodes = parseIntFlag('--nodes', options.nodes, 1, 16)
  const basePort = parseIntFlag('--base-port', options.basePort, 0, 65_535 - 100 - nodes)
  const readyTimeoutMs = options.timeoutMs === undefined ? 60_000 : parseIntFlag('--timeout-ms', options.timeoutMs, 1_000, 600_000)
  const logLevel = options.logLevel ?? 'info'
  if (!logLevels.includes(logLevel)) throw new UsageError(`--log-level must be one of ${logLevels.join(', ')}`)
  const dir = resolve(options.dir)
  const existing = await readClusterFile(dir).catch(() => null)
  const running = await runningRecordedMembers(dir).catch(() => [])
  if (running.length > 0) {
    throw new CliError('ALREADY_RUNNING', `a cluster is already running in ${dir} (${running.map(m => `${m.name} pid ${String(m.pid)}`).join(', ')}): use it, or stop it with quorumkv cluster down --dir ${options.dir}`)
  }
  if (existing !== null && existing.members.length !== nodes) {
    throw new UsageError(`${dir} holds a ${existing.members.length}-node cluster; use --nodes ${existing.members.length}, or another --dir (or delete ${dir} to start over)`)
  }
  const say = (line: string): void => { io.err(`${line}\n`) }
  say(`starting ${nodes} node${nodes === 1 ? '' : 's'} in ${dir} ...`)
  const stop = new Stop()
  let exited = 0
  let started = false
  const cluster = await LocalCluster.start({
    nodes,
    dir,
    basePort,
    http: true,
    logLevel,
    logs: 'files',
    detach: options.detach === true,
    onExit: (name, code, signal) => {
      // Exits while LocalCluster.start cleans up after a failed start are part of its error.
      if (stop.reason !== undefined || !started) return
      say(`${name} exited (code ${String(code)}, signal ${String(signal)}); see ${dir}/${name}.log`)
      if (++exited === nodes) stop.set('every node exited')
    }
  })
  started = true
  // From here on a signal stops the nodes started (during the start above the default handler
  // ends this process; foreground nodes share its Ctrl-C, detached ones are in cluster.json).
  stop.listen()
  let admin: AdminClient | undefined
  try {
    admin = await AdminClient.open(cluster.clientKey, cluster.peers)
    const names = new Map(cluster.members.map(m => [m.peerId, m.name]))
    const view = await waitForLeader(admin, names, readyTimeoutMs, stop)
    io.out(describeCluster(cluster, view, options))
    if (options.detach === true) return ExitCode.Ok
    await watch(admin, names, say, stop)
    say(`${stop.reason as string}: stopping the cluster ...`)
    await cluster.stopAll()
    say('stopped')
    return stop.reason === 'SIGINT' || stop.reason === 'SIGTERM' ? ExitCode.Ok : ExitCode.Failure
  } catch (err) {
    stop.set('failed')
    await cluster.stopAll()
    throw err
  } finally {
    stop.dispose()
    await admin?.close()
  }
}

/** Why the foreground cluster stops: a signal, or every node gone. Wakes a waiting loop at once. */
class Stop {
  reason: string | undefined
  private wake: () => void = () => {}
  private readonly onSignal = (signal: NodeJS.Signals): void => { this.set(signal) }

  listen (): void {
    process.on('SIGINT', this.onSignal)
    process.on('SIGTERM', this.onSignal)
  }

  dispose (): void {
    process.off('SIGINT', this.onSignal)
    process.off('SIGTERM', this.onSignal)
  }

  set (reason: string): void {
    this.reason ??= reason
    this.wake()
  }

  /** Sleeps `ms`, or less if a stop reason arrives. */
  async sleep (ms: number): Promise<void> {
    if (this.reason !== undefined) return
    await new Promise<void>((resolveSleep) => {
      const timer = setTimeout(() => { resolveSleep() }, ms)
      this.wake = () => { clearTimeout(timer); resolveSleep() }
    })
  }
}

async function waitForLeader (admin: AdminClient, names: Map<string, string>, timeoutMs: number, stop: Stop): Promise<ClusterView> {
  const deadline = Date.now() + timeoutMs
  let view: ClusterView | undefined
  while (Date.now() < deadline) {
    if (stop.reason !== undefined) throw new CliError('INTERRUPTED', `${stop.reason} before a leader was elected; the nodes were stopped`)
    view = await gatherClusterView(admin, names, statusTimeoutMs)
    const leader = view.members.find(m => m.peerId === view?.leader)
    if (leader?.alive === true && leader.role === 'leader') return view
    await stop.sleep(readyPollMs)
  }
  throw new CliError('TIMEOUT', `the nodes started but elected no leader within ${timeoutMs} ms; see the logs in the cluster directory${view === undefined ? '' : `\n${formatView(view)}`}`)
}

function describeCluster (cluster: LocalCluster, view: ClusterView, options: ClusterUpOptions): string {
  const leaderName = cluster.members.find(m => m.peerId === view.leader)?.name ?? view.leader ?? 'none'
  const rows = cluster.members.map(m => [m.name, m.peerId, transportAddress(m.multiaddrs[0]), m.httpAddr === null ? '-' : `http://${m.httpAddr}`, String(m.pid ?? '-'), m.peerId === view.leader ? 'leader' : view.members.find(v => v.peerId === m.peerId)?.role ?? '-'])
  const dirFlag = resolve(options.dir) === resolve(defaultDir) ? '' : ` --dir ${options.dir}`
  const cli = invocation()
  return `quorumkv cluster of ${cluster.members.length} in ${cluster.dir}\n` +
    table(['NAME', 'PEER ID', 'ADDRESS', 'METRICS', 'PID', 'ROLE'], rows) +
    `leader: ${leaderName} (term ${String(view.term)})\n` +
    `client key: ${cluster.clientKey}; node logs: ${cluster.dir}/<name>.log\n` +
    (options.detach === true
      ? `running in the background; stop it with: ${cli} cluster down${dirFlag}\n`
      : `try, in another terminal: ${cli} put greeting hello${dirFlag}   then   ${cli} get greeting --consistency strong${dirFlag}\nCtrl-C stops the cluster.\n`)
}

/** Foreground: a line per change of leader or reachability until a stop reason arrives. */
async function watch (admin: AdminClient, names: Map<string, string>, say: (line: string) => void, stop: Stop): Promise<void> {
  let last = await gatherClusterView(admin, names, statusTimeoutMs)
  const nameOf = (peer: string | null): string => peer === null ? 'none' : names.get(peer) ?? peer
  while (stop.reason === undefined) {
    await stop.sleep(watchIntervalMs)
    if (stop.reason !== undefined) break
    const now = await gatherClusterView(admin, names, statusTimeoutMs)
    const time = new Date().toTimeString().slice(0, 8)
    if (now.leader !== last.leader || now.term !== last.term) say(`${time} leader: ${nameOf(now.leader)} (term ${String(now.term)})`)
    for (const m of now.members) {
      const before = last.members.find(x => x.peerId === m.peerId)
      if (before !== undefined && before.alive !== m.alive) say(`${time} ${nameOf(m.peerId)} ${m.alive ? 'answers again' : 'does not answer'}`)
    }
    last = now
  }
}

export interface ClusterDirOptions {
  dir: string
  json?: boolean
}

/** `quorumkv cluster down`: stops the processes cluster.json records (only those). */
export async function runClusterDown (options: ClusterDirOptions, io: CliIo): Promise<number> {
  const results = await stopRecordedCluster(options.dir)
  if (results === null) throw new CliError('NO_CLUSTER', `no cluster.json in ${resolve(options.dir)}: nothing to stop`)
  for (const r of results) {
    const what = r.result === 'not-running' ? 'was not running' : r.result === 'stopped' ? `stopped (pid ${String(r.pid)})` : r.result === 'killed' ? `killed after the stop timeout (pid ${String(r.pid)})` : `did not exit (pid ${String(r.pid)})`
    io.out(`${r.name} ${what}\n`)
  }
  if (results.some(r => r.result === 'failed')) throw new CliError('STOP_FAILED', 'some node processes did not exit; they are still recorded in cluster.json')
  return ExitCode.Ok
}

/** `quorumkv cluster status`: the local processes (pid running or not) beside each node's role. */
export async function runClusterStatus (options: ClusterDirOptions, io: CliIo): Promise<number> {
  const file: ClusterFile | null = await readClusterFile(options.dir)
  if (file === null) throw new CliError('NO_CLUSTER', `no cluster.json in ${resolve(options.dir)}: start one with quorumkv cluster up`)
  const running = new Set((await runningRecordedMembers(options.dir)).map(m => m.name))
  let view: ClusterView | undefined
  if (running.size > 0) {
    const admin = await AdminClient.open(file.clientKey, file.members.filter(m => running.has(m.name)).flatMap(m => m.multiaddrs))
    try {
      view = await gatherClusterView(admin, new Map(file.members.map(m => [m.peerId, m.name])), statusTimeoutMs)
    } finally {
      await admin.close()
    }
  }
  const members = file.members.map(m => {
    const v = view?.members.find(x => x.peerId === m.peerId)
    return { ...m, running: running.has(m.name), role: v?.role ?? null, appliedIndex: v?.appliedIndex ?? null }
  })
  if (options.json === true) {
    io.out(`${JSON.stringify({ dir: resolve(options.dir), leader: view?.leader ?? null, term: view?.term ?? null, members })}\n`)
  } else {
    io.out(table(['NAME', 'PID', 'RUNNING', 'ROLE', 'APPLIED', 'ADDRESS', 'METRICS', 'DATA DIR'],
      members.map(m => [m.name, String(m.pid ?? '-'), m.running ? 'yes' : 'no', m.role ?? '-', String(m.appliedIndex ?? '-'), transportAddress(m.multiaddrs[0]), m.httpAddr === null ? '-' : `http://${m.httpAddr}`, m.dataDir])))
  }
  return ExitCode.Ok
}


/**
 * How to type this command here: `./bin/quorumkv.js` from inside the repository (a fresh clone
 * has no `quorumkv` on its PATH), else `quorumkv`.
 */
function invocation (): string {
  const script = process.argv[1]
  if (script === undefined || !script.endsWith('quorumkv.js')) return 'quorumkv'
  const rel = relative(process.cwd(), script)
  return rel.startsWith('..') || isAbsolute(rel) ? 'quorumkv' : `./${rel}`
}
