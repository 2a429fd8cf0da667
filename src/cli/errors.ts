import { QuorumKvError } from '../api/errors.js'

/**
 * How the CLI ends: 0 done, 1 the operation failed (the error's code is printed), 2 the command
 * line was wrong (nothing was attempted), 3 `get` found no value. Scripts branch on these.
 */
export const ExitCode = Object.freeze({
  Ok: 0,
  Failure: 1,
  Usage: 2,
  NotFound: 3
} as const)

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** A bad command line: printed without a code, exit 2. */
export class UsageError extends Error {
  override get name (): string { return 'UsageError' }
}

/** A failure the CLI itself detected (no cluster to stop, a node did not start): exit 1 with `code`. */
export class CliError extends Error {
  readonly code: string
  constructor (code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }

  override get name (): string { return 'CliError' }
}

/** One line for a human, plus the stack and cause chain when `debug` is on. */
export function formatError (err: unknown, debug: boolean): { text: string, exitCode: ExitCode } {
  if (err instanceof UsageError) return { text: `error: ${err.message}\n(run with --help for usage)\n`, exitCode: ExitCode.Usage }
  let text: string
  if (err instanceof QuorumKvError || err instanceof CliError) text = `error ${err.code}: ${err.message}\n`
  else if (err instanceof Error) text = `error: ${err.message}\n`
  else text = `error: ${String(err)}\n`
  if (debug) text += details(err)
  return { text, exitCode: ExitCode.Failure }
}

function details (err: unknown): string {
  let out = ''
  let current: unknown = err
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof QuorumKvError && Object.keys(current.details).length > 0) out += `details: ${JSON.stringify(current.details)}\n`
    out += `${current.stack ?? current.message}\n`
    current = current.cause
    if (current !== undefined) out += 'caused by:\n'
  }
  return out
}
