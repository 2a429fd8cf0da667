/**
 * The load generator every benchmark shares: closed-loop clients, each bounded by a count and a
 * time limit, latency percentiles and CPU per operation, a readable table, and the JSON line that
 * ends every benchmark's output.
 */
export interface LoadOptions {
  clients: number
  /** Measured time after the warm-up. */
  durationMs: number
  warmupMs: number
  /** Hard cap on operations per client, so a loop always ends even if time misbehaves. */
  opsPerClientMax: number
}

export interface LoadResult {
  ops: number
  errors: number
  opsPerSec: number
  p50Ms: number
  p99Ms: number
  p999Ms: number
  /** CPU of this process (user + system) per measured operation. */
  cpuMsPerOp: number
  elapsedMs: number
}

/** Runs `op(client, i)` in `clients` closed loops; only operations that start after the warm-up count. */
export async function runLoad (options: LoadOptions, op: (client: number, i: number) => Promise<unknown>): Promise<LoadResult> {
  const start = performance.now()
  const measureFrom = start + options.warmupMs
  const stopAt = measureFrom + options.durationMs
  const latencies: number[] = []
  let errors = 0
  let cpuStart: NodeJS.CpuUsage | undefined
  let measuredStart = 0
  const startMeasuring = (): void => {
    if (cpuStart !== undefined) return
    cpuStart = process.cpuUsage()
    measuredStart = performance.now()
  }
  if (options.warmupMs === 0) startMeasuring()
  await Promise.all(Array.from({ length: options.clients }, async (_, client) => {
    for (let i = 0; i < options.opsPerClientMax; i++) {
      const t0 = performance.now()
      if (t0 >= stopAt) break
      const measured = t0 >= measureFrom
      if (measured) startMeasuring()
      try {
        await op(client, i)
        if (measured) latencies.push(performance.now() - t0)
      } catch {
        if (measured) errors++
      }
    }
  }))
  const elapsedMs = performance.now() - measuredStart
  const cpu = process.cpuUsage(cpuStart)
  return summarize(latencies, errors, elapsedMs, (cpu.user + cpu.system) / 1000)
}

export function summarize (latencies: number[], errors: number, elapsedMs: number, cpuMs: number): LoadResult {
  const sorted = Float64Array.from(latencies).sort()
  const ops = sorted.length
  return {
    ops,
    errors,
    opsPerSec: ops / (elapsedMs / 1000),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    p999Ms: percentile(sorted, 0.999),
    cpuMsPerOp: ops === 0 ? 0 : cpuMs / ops,
    elapsedMs
  }
}

export function percentile (sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

export type Row = Record<string, string | number>

/** Prints rows as an aligned table. */
export function printTable (title: string, rows: Row[], columns: string[]): void {
  const cells = rows.map(r => columns.map(c => format(r[c])))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map(row => (row[i] as string).length)))
  const line = (values: string[]): string => values.map((v, i) => v.padStart(widths[i] as number)).join('  ')
  console.log(`\n${title}`)
  console.log(line(columns))
  console.log(widths.map(w => '-'.repeat(w)).join('  '))
  for (const row of cells) console.log(line(row))
}

function format (value: string | number | undefined): string {
  if (value === undefined) return ''
  if (typeof value === 'string') return value
  if (Number.isInteger(value)) return String(value)
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(value < 1 ? 3 : 2)
}

/** The last line of every benchmark: one JSON object. */
export function printJsonLine (bench: string, rows: Row[]): void {
  const rounded = rows.map(r => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(4)) : v])))
  process.stdout.write(`${JSON.stringify({ bench, rows: rounded })}\n`)
}

/** Reads `--name value` flags with numeric defaults. */
export function numberFlag (name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  if (i === -1) return fallback
  const value = Number(process.argv[i + 1])
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} needs a non-negative number`)
  return value
}
