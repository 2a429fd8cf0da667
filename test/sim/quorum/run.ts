import { writeFileSync } from 'node:fs'
import { toJsonLines } from '../../../chaos/history.js'
import { formatFailure, runQuorumSim } from './sim.js'
import { parseSimArgs } from '../args.js'

/**
 * node --import ./src/runtime/register.js test/sim/quorum/run.ts --seeds N [--start S] [--verbose] [--history FILE]
 * (npm run sim:quorum -- --seeds N once package.json has the script).
 *
 * Runs seeds start..start+N-1, prints each failing seed with its violations and the command that
 * replays it, and a summary with the lww writes last-writer-wins discarded. Exits 1 on failure.
 */
interface Args { seeds: number, start: number, verbose: boolean, history: string | null }

function parseArgs (argv: string[]): Args {
  const { seeds, start, values } = parseSimArgs(argv, { verbose: { type: 'boolean' }, history: { type: 'string' } }, '--seeds N [--start S] [--verbose] [--history FILE]')
  return { seeds, start, verbose: values.verbose === true, history: typeof values.history === 'string' ? values.history : null }
}

async function main (): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const started = performance.now()
  let failures = 0
  const totals = { ops: 0, okOps: 0, unknownOps: 0, crashes: 0, partitions: 0, lwwAcked: 0, lwwDiscarded: 0, siblingsMax: 0, handedOff: 0, readRepairs: 0, reaped: 0, driftRejected: 0, boundedOk: 0 }
  let lastProgress = started
  for (let seed = args.start; seed < args.start + args.seeds; seed++) {
    const r = await runQuorumSim(seed)
    totals.ops += r.stats.ops
    totals.okOps += r.stats.okOps
    totals.unknownOps += r.stats.unknownOps
    totals.crashes += r.stats.crashes
    totals.partitions += r.stats.partitions
    totals.lwwAcked += r.stats.lwwAcked
    totals.lwwDiscarded += r.stats.lwwDiscardedConcurrent
    totals.siblingsMax = Math.max(totals.siblingsMax, r.stats.siblingsMax)
    totals.handedOff += r.stats.hintsHandedOff
    totals.readRepairs += r.stats.readRepairs
    totals.reaped += r.stats.tombstonesReaped
    totals.driftRejected += r.stats.clockDriftRejected
    totals.boundedOk += r.stats.boundedReadsOk
    if (args.verbose) {
      console.log(`seed ${seed}: ${JSON.stringify(r.stats)}`)
      for (const line of r.nemesisLog) console.log(`  nemesis ${line}`)
    }
    if (args.history !== null) writeFileSync(args.history, toJsonLines(r.history))
    if (!r.ok) {
      failures++
      for (const line of formatFailure(r)) console.log(line)
    }
    const now = performance.now()
    if (now - lastProgress > 5_000) {
      lastProgress = now
      console.log(`progress: ${seed - args.start + 1}/${args.seeds} seeds, ${failures} failed, ${((now - started) / 1000).toFixed(1)} s`)
    }
  }
  const seconds = (performance.now() - started) / 1000
  console.log(`summary: ${args.seeds} seeds (${args.start}..${args.start + args.seeds - 1}), ${failures} failed, ${totals.ops} client ops (${totals.okOps} ok, ${totals.unknownOps} unknown), ` +
    `${totals.crashes} crashes, ${totals.partitions} partitions; lww: ${totals.lwwDiscarded} of ${totals.lwwAcked} acknowledged writes discarded by last-writer-wins (concurrent, unseen by the winner); ` +
    `most mv siblings ${totals.siblingsMax}; ${totals.handedOff} hints handed off, ${totals.readRepairs} read repairs, ${totals.reaped} tombstones reaped, ` +
    `${totals.driftRejected} timestamps refused for drift, ${totals.boundedOk} bounded reads served; ${seconds.toFixed(1)} s`)
  process.exitCode = failures > 0 ? 1 : 0
}

await main()
