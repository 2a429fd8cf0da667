import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { CliError, ExitCode, UsageError } from '../errors.js'
import { parseIntFlag } from '../parse.js'
import type { CliIo } from '../io.js'

export interface BenchOptions {
  only?: string
  durationMs?: string
  skipEtcd?: boolean
  json?: boolean
}

interface Bench {
  name: string
  file: string
  describe: string
  /** Flags for a measured window of `durationMs` per row. */
  args: (durationMs: number, skipEtcd: boolean) => string[]
  /** A rough run time, only for the progress line. */
  estimateMs: (durationMs: number, skipEtcd: boolean) => number
}

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url))
const registerModule = join(repoRoot, 'src/runtime/register.js')
const etcdBinary = '/usr/bin/etcd'
const progressIntervalMs = 1_000
/** Off a terminal, a line at least this often while a benchmark prints nothing itself. */
const quietLineMs = 10_000
const outputLinesMax = 10_000

// Warm-ups are a sixth of the measured window, as in the benchmarks' own defaults.
const benches: Bench[] = [
  {
    name: 'local',
    file: 'bench/local.ts',
    describe: 'one embedded node: synced puts and gets at 1 and 64 callers, beside raw level',
    args: (d) => ['--duration-ms', String(d), '--warmup-ms', String(Math.round(d / 6))],
    estimateMs: (d) => 9 * (d + d / 6) + 2_000
  },
  {
    name: 'strong',
    file: 'bench/strong.ts',
    describe: '3 node processes: puts, strong and eventual gets at 1-256 clients (and etcd as the reference)',
    args: (d, skipEtcd) => ['--duration-ms', String(d), '--warmup-ms', String(Math.round(d / 5)), ...(skipEtcd ? ['--skip-etcd'] : [])],
    estimateMs: (d, skipEtcd) => (skipEtcd ? 1 : 2) * (12 * (d + d / 5) + 8_000)
  },
  {
    name: 'quorum',
    file: 'bench/quorum.ts',
    describe: '3 node processes, a quorum collection: W=1 and W=2 puts beside strong puts, R=1, R=2 and causal gets, at 1 and 64 clients',
    args: (d) => ['--duration-ms', String(d), '--warmup-ms', String(Math.round(d / 5))],
    estimateMs: (d) => 12 * (d + d / 5) + 8_000
  },
  {
    name: 'rpc',
    file: 'bench/rpc.ts',
    describe: 'libp2p request/response round trips beside plain TCP',
    args: (d) => [`--seconds=${d / 1000}`, `--warmup=${d / 6000}`],
    estimateMs: (d) => 2 * (4 * (d + d / 6) + 3_000)
  }
]

/**
 * `quorumkv bench`: the project's benchmarks one after another, each in its own process, with a
 * progress line (estimated from the run time each one needs; the benchmarks' own progress lines
 * are shown beside it). Prints each benchmark's table; `--json` prints one JSON line with them all.
 */
export async function runBench (options: BenchOptions, io: CliIo): Promise<number> {
  const names = options.only === undefined ? benches.map(b => b.name) : options.only.split(',').map(s => s.trim()).filter(s => s !== '')
  for (const n of names) if (!benches.some(b => b.name === n)) throw new UsageError(`--only: unknown benchmark ${JSON.stringify(n)}; choose from ${benches.map(b => b.name).join(', ')}`)
  const durationMs = options.durationMs === undefined ? 3_000 : parseIntFlag('--duration-ms', options.durationMs, 200, 600_000)
  const selected = benches.filter(b => names.includes(b.name))
  let skipEtcd = options.skipEtcd === true
  if (!skipEtcd && selected.some(b => b.name === 'strong') && !existsSync(etcdBinary)) {
    io.err(`note: etcd is not installed (${etcdBinary}); strong runs without the etcd reference (apt-get install etcd-server to compare)\n`)
    skipEtcd = true
  }
  for (const b of selected) {
    if (!existsSync(join(repoRoot, b.file))) throw new CliError('NO_BENCH', `${b.file} is not in ${repoRoot}: benchmarks run from a clone of the repository`)
  }
  const results: unknown[] = []
  const totalMs = selected.reduce((sum, b) => sum + b.estimateMs(durationMs, skipEtcd), 0)
  let doneMs = 0
  for (const [i, b] of selected.entries()) {
    const label = `[${i + 1}/${selected.length}] ${b.name}`
    io.err(`${label}: ${b.describe}\n`)
    const { table, json } = await runOne(b, durationMs, skipEtcd, io, (elapsedMs, note) => {
      const fraction = Math.min(0.99, (doneMs + Math.min(elapsedMs, b.estimateMs(durationMs, skipEtcd))) / totalMs)
      return `${bar(fraction)} ${label} ${Math.round(elapsedMs / 1000)}s${note === '' ? '' : `  ${note}`}`
    })
    doneMs += b.estimateMs(durationMs, skipEtcd)
    if (options.json !== true) io.out(`${table}\n`)
    results.push(json)
  }
  io.err(`${bar(1)} done\n`)
  if (options.json === true) io.out(`${JSON.stringify({ bench: 'all', durationMs, results })}\n`)
  return ExitCode.Ok
}

function bar (fraction: number): string {
  const width = 20
  const filled = Math.round(fraction * width)
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}%`
}

async function runOne (b: Bench, durationMs: number, skipEtcd: boolean, io: CliIo, line: (elapsedMs: number, note: string) => string): Promise<{ table: string, json: unknown }> {
  const child = spawn(process.execPath, ['--import', registerModule, b.file, ...b.args(durationMs, skipEtcd)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  const tty = process.stderr.isTTY === true
  const started = Date.now()
  const out: string[] = []
  const errTail: string[] = []
  let note = ''
  let lastLineAt = started
  const show = (): void => {
    const text = line(Date.now() - started, note)
    if (tty) {
      io.err(`\r\u001b[2K${text.slice(0, (process.stderr.columns ?? 100) - 1)}`)
    } else if (Date.now() - lastLineAt >= quietLineMs) {
      lastLineAt = Date.now()
      io.err(`${text}\n`)
    }
  }
  createInterface({ input: child.stdout }).on('line', (l) => { if (out.length < outputLinesMax) out.push(l) })
  createInterface({ input: child.stderr }).on('line', (l) => {
    note = l.trim()
    errTail.push(l)
    if (errTail.length > 20) errTail.shift()
    // Off a terminal, each of the benchmark's own progress lines is one line of progress.
    if (!tty) {
      lastLineAt = Date.now()
      io.err(`${line(Date.now() - started, note)}\n`)
    } else {
      show()
    }
  })
  const timer = setInterval(show, progressIntervalMs)
  const { code, signal } = await new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (c, s) => { resolveExit({ code: c, signal: s }) })
  })
  clearInterval(timer)
  if (tty) io.err('\r\u001b[2K')
  if (code !== 0) throw new CliError('BENCH_FAILED', `${b.name} failed (code ${String(code)}, signal ${String(signal)}):\n${errTail.join('\n')}`)
  let json: unknown = null
  // The benchmarks end with one JSON object line; everything before it is their table.
  for (let i = out.length - 1; i >= 0 && json === null; i--) {
    const text = (out[i] as string).trim()
    if (!text.startsWith('{')) continue
    try { json = JSON.parse(text) } catch { continue }
    out.splice(i, 1)
  }
  return { table: out.join('\n'), json }
}
