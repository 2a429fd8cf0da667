import { pino, type Logger, type DestinationStream } from 'pino'

export type { Logger }

/**
 * JSON logs with stable field names: `peer`, `term`, `index`, `key`, `latencyMs`, `code`, `event`.
 * Every log line of note carries an `event` name listed in docs/observability.md.
 */
export function createLogger (options: { level: string, name?: string }, destination?: DestinationStream): Logger {
  const base = { name: options.name ?? 'quorumkv' }
  return destination === undefined
    ? pino({ level: options.level, base })
    : pino({ level: options.level, base }, destination)
}
