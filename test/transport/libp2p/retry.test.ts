import { describe, expect, it } from 'vitest'
import { AbortedError, InvalidArgumentError, NotLeaderError, OverloadedError, TimeoutError, UnavailableError } from '../../../src/api/errors.js'
import { seededRandom } from '../../../src/runtime/random.js'
import type { TimeSource } from '../../../src/runtime/time.js'
import { requestWithRetry } from '../../../src/transport/libp2p/retry.js'
import type { Transport } from '../../../src/transport/types.js'

/** Timers fire on the next macrotask and record the delays asked for. */
function instantTime (delays: number[]): TimeSource {
  return {
    now: () => 0,
    setTimeout: (fn, delayMs) => {
      delays.push(delayMs)
      const t = setTimeout(fn, 0)
      return { cancel: () => { clearTimeout(t) } }
    }
  }
}

function scripted (outcomes: Array<unknown | Error>): Transport & { calls: number } {
  const fake = {
    calls: 0,
    localId: 'me',
    handle: () => {},
    unhandle: () => {},
    send: () => true,
    request: async () => {
      const next = outcomes[Math.min(fake.calls++, outcomes.length - 1)]
      if (next instanceof Error) throw next
      return next
    }
  }
  return fake
}

describe('requestWithRetry', () => {
  it('retries unavailable, overloaded and timed-out attempts with growing jittered delays', async () => {
    const delays: number[] = []
    const t = scripted([new UnavailableError('down'), new OverloadedError('busy'), new TimeoutError('slow'), 'done'])
    const result = await requestWithRetry(t, 'peer', '/p', 'm', { attempts: 5, baseDelayMs: 100, timeoutMs: 50, random: seededRandom(3), time: instantTime(delays) })
    expect(result).toBe('done')
    expect(t.calls).toBe(4)
    expect(delays).toHaveLength(3)
    expect(delays[0]).toBeGreaterThanOrEqual(50)
    expect(delays[0]).toBeLessThanOrEqual(100)
    expect(delays[2]).toBeGreaterThanOrEqual(200)
    expect(delays[2]).toBeLessThanOrEqual(400)
  })

  it('does not retry a verdict of the remote handler', async () => {
    const t = scripted([new NotLeaderError('ask node-2'), 'never'])
    await expect(requestWithRetry(t, 'peer', '/p', 'm', { attempts: 5, baseDelayMs: 1, timeoutMs: 50, time: instantTime([]) })).rejects.toBeInstanceOf(NotLeaderError)
    expect(t.calls).toBe(1)
  })

  it('gives up after the attempts with the last error', async () => {
    const t = scripted([new UnavailableError('down')])
    await expect(requestWithRetry(t, 'peer', '/p', 'm', { attempts: 3, baseDelayMs: 1, timeoutMs: 50, time: instantTime([]) })).rejects.toBeInstanceOf(UnavailableError)
    expect(t.calls).toBe(3)
  })

  it('stops retrying when the signal aborts', async () => {
    const controller = new AbortController()
    const t = scripted([new UnavailableError('down')])
    const time: TimeSource = { now: () => 0, setTimeout: () => { controller.abort(); return { cancel: () => {} } } }
    await expect(requestWithRetry(t, 'peer', '/p', 'm', { attempts: 5, baseDelayMs: 1, timeoutMs: 50, signal: controller.signal, time })).rejects.toBeInstanceOf(AbortedError)
    expect(t.calls).toBe(1)
  })

  it('refuses a number of attempts outside [1, 100]', async () => {
    await expect(requestWithRetry(scripted(['x']), 'peer', '/p', 'm', { attempts: 0, baseDelayMs: 1, timeoutMs: 50 })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(requestWithRetry(scripted(['x']), 'peer', '/p', 'm', { attempts: 101, baseDelayMs: 1, timeoutMs: 50 })).rejects.toBeInstanceOf(InvalidArgumentError)
  })
})
