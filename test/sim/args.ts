import { parseArgs, type ParseArgsConfig } from 'node:util'

/**
 * Command-line flags of the simulation runners: `--seeds N --start S` plus each runner's own.
 * Unknown flags are refused (util.parseArgs, strict), with the runner's usage line.
 */
export function parseSimArgs<O extends NonNullable<ParseArgsConfig['options']>> (argv: string[], options: O, usage: string): { seeds: number, start: number, values: Record<string, string | boolean | undefined> } {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({ args: argv, strict: true, options: { seeds: { type: 'string' }, start: { type: 'string' }, ...options } }).values as Record<string, string | boolean | undefined>
  } catch (err) {
    throw new Error(`${(err as Error).message}; usage: ${usage}`)
  }
  const seeds = Number.parseInt(String(values.seeds ?? '100'), 10)
  const start = Number.parseInt(String(values.start ?? '1'), 10)
  if (!Number.isSafeInteger(seeds) || seeds <= 0 || !Number.isSafeInteger(start)) throw new Error('--seeds and --start take integers')
  return { seeds, start, values }
}
