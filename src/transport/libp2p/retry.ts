import { AbortedError, ErrorCode, InvalidArgumentError, QuorumKvError } from '../../api/errors.js'
import type { ErrorCode as Code } from '../../api/errors.js'
import { systemRandom } from '../../runtime/random.js'
import type { Random } from '../../runtime/random.js'
import { systemTime } from '../../runtime/time.js'
import type { TimeSource } from '../../runtime/time.js'
import type { PeerId, Transport } from '../types.js'
import { backoffDelayMs } from './backoff.js'

export interface RetryOptions {
  /** Total attempts including the first; at most `retryAttemptsMax`. */
  attempts: number
  /** Backoff before the second attempt; doubles (with jitter) each time after. */
  baseDelayMs: number
  /** Cap of one backoff delay. Default: 32 x baseDelayMs. */
  maxDelayMs?: number
  /** Deadline of each attempt. */
  timeoutMs: number
  signal?: AbortSignal
  random?: Random
  time?: TimeSource
}

export const retryAttemptsMax = 100

/**
 * Errors after which the same call may succeed: the peer was unreachable, busy, or did not answer
 * in time. Anything else (a handler's verdict, bad input) comes back the same on every attempt.
 */
const retryable: ReadonlySet<Code> = new Set([ErrorCode.Unavailable, ErrorCode.Overloaded, ErrorCode.Timeout])

/**
 * `transport.request` with retries and jittered exponential backoff, for IDEMPOTENT calls only
 * (reads, and writes the receiver deduplicates by client id and sequence number). A request that
 * timed out may have been processed: retrying a non-idempotent one can apply it twice.
 * The caller's signal stops the retries; the last error is thrown when the attempts run out.
 */
export async function requestWithRetry (transport: Transport, to: PeerId, protocol: string, message: unknown, options: RetryOptions): Promise<unknown> {
  const { attempts, baseDelayMs, timeoutMs, signal } = options
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > retryAttemptsMax) throw new InvalidArgumentError(`attempts must be an integer in [1, ${retryAttemptsMax}], got ${attempts}`)
  if (!(baseDelayMs >= 0)) throw new InvalidArgumentError(`baseDelayMs must be >= 0, got ${baseDelayMs}`)
  const random = options.random ?? systemRandom
  const time = options.time ?? systemTime
  const maxDelayMs = options.maxDelayMs ?? baseDelayMs * 32
  for (let attempt = 1; ; attempt++) {
    try {
      return await transport.request(to, protocol, message, { timeoutMs, signal })
    } catch (err) {
      const again = err instanceof QuorumKvError && retryable.has(err.code) && attempt < attempts
      if (!again) throw err
    }
    await sleep(time, backoffDelayMs(attempt, baseDelayMs, maxDelayMs, random), signal)
  }
}

async function sleep (time: TimeSource, delayMs: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted === true) throw new AbortedError('the request was aborted between retries')
  await new Promise<void>((resolve, reject) => {
    const timer = time.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, delayMs)
    const onAbort = (): void => {
      timer.cancel()
      reject(new AbortedError('the request was aborted between retries'))
    }
    // The signal may have fired while the timer was being set (a virtual clock can do that).
    if (signal?.aborted === true) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })
  })
}
