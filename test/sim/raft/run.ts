import { writeFileSync } from 'node:fs'
import { simConfigNames, simConfigs } from './configs.js'
import { Simulation } from './sim.js'
import type { SimResult } from './sim.js'
import { parseSimArgs } from '../args.js'

/**
 * npm run sim -- --seeds 20000 [--start N] [--config NAME[,NAME...]] [--trace] [--history FILE]
 *
 * Runs seeds start .. start + seeds - 1; with several configurations (all of them unless --config)
 * seed s runs configuration s mod k, so `--seeds 20000` is 20000 runs in all. Prints progress, each
 * failing run with the command that replays it alone (with a trace), and a summary line. Exits 1
 * on any failure. --history FILE writes the client history of the last run as JSON lines.
 */
interface Args { seeds: number, start: number, configs: string[], trace: boolean, history: string | null }

function parseArgs (argv: string[]): Args {
  const usage = `--seeds N [--start N] [--config ${simConfigNames.join('|')}] [--trace] [--history FILE]`
  const { seeds, start, values } = parseSimArgs(argv, { config: { type: 'string' }, trace: { type: 'boolean' }, history: { type: 'string' } }, usage)
  const configs = typeof values.config === 'string' ? values.config.split(',') : simConfigNames
  for (const c of configs) if (simConfigs[c] === undefined) throw new Error(`unknown config ${c}; known: ${simConfigNames.join(', ')}`)
  return { seeds, start, configs, trace: values.trace === true, history: typeof values.history === 'string' ? values.history : null }
}

export function replayCommand (config: string, seed: number): string {
  return `npm run sim -- --config ${config} --start ${seed} --seeds 1 --trace`
}

function main (): void {
  const args = parseArgs(process.argv.slice(2))
  const started = performance.now()
  let runs = 0
  const failures: SimResult[] = []
  const totals = { ops: 0, okOps: 0, elections: 0, snapshotsSent: 0, confChanges: 0, crashes: 0 }
  const total = args.seeds
  let lastProgress = started
  for (let seed = args.start; seed < args.start + args.seeds; seed++) {
    const name = args.configs[((seed % args.configs.length) + args.configs.length) % args.configs.length] as string
    const config = simConfigs[name]
    if (config === undefined) continue
    {
      const sim = new Simulation(config, seed, args.trace)
      const result = sim.run()
      runs++
      totals.ops += result.stats.ops
      totals.okOps += result.stats.okOps
      totals.elections += result.stats.elections
      totals.snapshotsSent += result.stats.snapshotsSent
      totals.confChanges += result.stats.confChanges
      totals.crashes += result.stats.crashes
      if (args.trace) for (const line of sim.traceLines()) console.log(line)
      if (args.history !== null) writeFileSync(args.history, sim.historyJsonLines())
      if (!result.ok) {
        failures.push(result)
        console.log(`FAIL config=${name} seed=${seed}`)
        for (const v of result.violations) console.log(`  ${v}`)
        console.log(`  replay: ${replayCommand(name, seed)}`)
      }
      const now = performance.now()
      if (now - lastProgress > 5000) {
        lastProgress = now
        console.log(`progress: ${runs}/${total} runs, ${failures.length} failed, ${((now - started) / 1000).toFixed(1)} s`)
      }
    }
  }
  const seconds = (performance.now() - started) / 1000
  console.log(`summary: ${runs} runs (${args.configs.join(',')}; seeds ${args.start}..${args.start + args.seeds - 1}), ${failures.length} failed, ` +
    `${totals.ops} client ops (${totals.okOps} ok), ${totals.elections} elections, ${totals.crashes} crashes, ${totals.snapshotsSent} snapshots sent, ` +
    `${totals.confChanges} membership changes, ${seconds.toFixed(1)} s`)
  process.exitCode = failures.length > 0 ? 1 : 0
}

main()
