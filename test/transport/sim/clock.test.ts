import { describe, expect, it } from 'vitest'
import { SimClock, SimulationError } from '../../../src/transport/sim/clock.js'

/** A storage write that completes after `ms` of virtual time, as a simulated disk would. */
function sleep (clock: SimClock, ms: number): Promise<void> {
  return new Promise(resolve => { clock.setTimeout(resolve, ms) })
}

describe('SimClock', () => {
  it('fires timers in time order and ties in the order they were set', async () => {
    const clock = new SimClock()
    const log: string[] = []
    clock.setTimeout(() => { log.push(`b@${clock.now()}`) }, 20)
    clock.setTimeout(() => { log.push(`a1@${clock.now()}`) }, 10)
    clock.setTimeout(() => { log.push(`a2@${clock.now()}`) }, 10)
    await clock.runUntilIdle()
    expect(log).toEqual(['a1@10', 'a2@10', 'b@20'])
  })

  it('never runs a cancelled timer, even when its handle is cancelled unbound or twice', async () => {
    const clock = new SimClock()
    let fired = 0
    const { cancel } = clock.setTimeout(() => { fired++ }, 5)
    cancel()
    cancel()
    expect(clock.pendingCount).toBe(0)
    await clock.runFor(100)
    expect(fired).toBe(0)
  })

  it('treats delays below 1 ms, NaN and huge values the way Node does (1 ms)', async () => {
    const clock = new SimClock({ startMs: 1000 })
    const at: number[] = []
    for (const d of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, 2.5]) clock.setTimeout(() => { at.push(clock.now()) }, d)
    await clock.runUntilIdle()
    expect(at).toEqual([1001, 1001, 1001, 1001, 1002.5])
  })

  it('runUntil runs exactly the events due by the target and leaves the clock at the target', async () => {
    const clock = new SimClock()
    const log: number[] = []
    for (const t of [5, 10, 15]) clock.setTimeout(() => { log.push(t) }, t)
    expect(await clock.runUntil(10)).toBe(2)
    expect(clock.now()).toBe(10)
    expect(log).toEqual([5, 10])
    await clock.runFor(100)
    expect(clock.now()).toBe(110)
    expect(log).toEqual([5, 10, 15])
  })

  it('runs every promise continuation of an event at that event\'s virtual time, before time moves', async () => {
    const clock = new SimClock()
    const seen: string[] = []
    // A driver with a deep await chain per step, as a Raft driver persisting then sending would have.
    const driver = async (name: string, delayMs: number): Promise<void> => {
      await sleep(clock, delayMs)
      for (let i = 0; i < 50; i++) await Promise.resolve()
      seen.push(`${name} resumed at ${clock.now()}`)
      await sleep(clock, 1)
      seen.push(`${name} done at ${clock.now()}`)
    }
    void driver('a', 10)
    void driver('b', 10)
    clock.setTimeout(() => { seen.push(`timer at ${clock.now()}`) }, 10)
    await clock.runUntilIdle()
    expect(seen).toEqual([
      'a resumed at 10', 'b resumed at 10', 'timer at 10', 'a done at 11', 'b done at 11'
    ])
  })

  it('settles work the caller started before the first event runs, even when called from a macrotask', async () => {
    const clock = new SimClock()
    const seen: Array<string | number> = []
    await new Promise<void>(resolve => {
      setImmediate(() => {
        void (async () => {
          for (let i = 0; i < 20; i++) await null
          seen.push(clock.now())
        })()
        clock.setTimeout(() => { seen.push('timer') }, 1)
        void clock.runUntilIdle().then(() => { resolve() })
      })
    })
    expect(seen).toEqual([0, 'timer'])
  })

  it('run() resolves with the async function\'s value at the virtual time it finished', async () => {
    const clock = new SimClock()
    const result = await clock.run(async () => {
      await sleep(clock, 30)
      await sleep(clock, 12)
      return clock.now()
    }, { maxTimeMs: 1000 })
    expect(result).toBe(42)
    expect(clock.now()).toBe(42)
  })

  it('run() rejects with the async function\'s own error', async () => {
    const clock = new SimClock()
    await expect(clock.run(async () => {
      await sleep(clock, 5)
      throw new RangeError('boom')
    }, { maxTimeMs: 100 })).rejects.toThrow(RangeError)
  })

  it('run() reports a deadlock when the promise waits on something no event will ever do', async () => {
    const clock = new SimClock()
    const err = await clock.run(() => new Promise(() => {}), { maxTimeMs: 100 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SimulationError)
    expect((err as SimulationError).reason).toBe('deadlock')
  })

  it('run() reports a deadlock, not a race, when simulated code waits on a real timer', async () => {
    const clock = new SimClock()
    const err = await clock.run(() => new Promise(resolve => { setTimeout(resolve, 0) }), { maxTimeMs: 100 }).catch((e: unknown) => e)
    expect((err as SimulationError).reason).toBe('deadlock')
  })

  it('run() gives up after maxTimeMs of virtual time', async () => {
    const clock = new SimClock()
    const tick = (): void => { clock.setTimeout(tick, 10) }
    tick()
    const err = await clock.run(() => sleep(clock, 500), { maxTimeMs: 100 }).catch((e: unknown) => e)
    expect((err as SimulationError).reason).toBe('time-max')
    expect(clock.now()).toBe(100)
  })

  it('bounds a livelock by the event count instead of hanging', async () => {
    const clock = new SimClock()
    const loop = (): void => { clock.setTimeout(loop, 0) }
    loop()
    const err = await clock.runUntilIdle({ eventsMax: 1000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SimulationError)
    expect((err as SimulationError).reason).toBe('events-max')
  })

  it('runUntilCondition stops as soon as the condition holds, or reports false at the time limit', async () => {
    const clock = new SimClock()
    let count = 0
    const tick = (): void => { count++; clock.setTimeout(tick, 10) }
    clock.setTimeout(tick, 10)
    expect(await clock.runUntilCondition(() => count === 3, { maxTimeMs: 1000 })).toBe(true)
    expect(clock.now()).toBe(30)
    expect(await clock.runUntilCondition(() => count === 1000, { maxTimeMs: 55 })).toBe(false)
    expect(clock.now()).toBe(85)
    expect(count).toBe(8)
  })

  it('step() runs one event synchronously and reports when none is left', () => {
    const clock = new SimClock()
    const log: number[] = []
    clock.setTimeout(() => { log.push(clock.now()) }, 3)
    expect(clock.nextEventAtMs()).toBe(3)
    expect(clock.step()).toBe(true)
    expect(clock.step()).toBe(false)
    expect(log).toEqual([3])
    expect(clock.nextEventAtMs()).toBeUndefined()
  })

  it('an event that throws fails the run that executed it', async () => {
    const clock = new SimClock()
    clock.setTimeout(() => { throw new Error('handler bug') }, 1)
    await expect(clock.runFor(10)).rejects.toThrow('handler bug')
  })
})
