import { HistoryRecorder } from '../../chaos/history.js'
import type { HistoryEvent, OpHandle } from '../../chaos/history.js'
import { randomInt, seededRandom } from '../../src/runtime/random.js'
import type { Random } from '../../src/runtime/random.js'

/**
 * Histories produced by a real sequential register: every op takes effect at one instant between
 * its invoke and its completion (or, for an op whose outcome is reported unknown, at any later
 * instant or never). By construction they are linearizable.
 */
export interface RegisterRunOptions {
  seed: number
  processes: number
  keys: number
  steps: number
  /** Chance that an outcome is reported as unknown (info). */
  infoRate?: number
  /** Chance that an op not yet applied fails cleanly instead. */
  failRate?: number
  /** Record on ok completions the `version` of the value written or read (a global apply counter). */
  versions?: boolean
}

interface InFlight {
  handle: OpHandle
  f: 'read' | 'write' | 'cas' | 'delete'
  key: string
  input: unknown
  applied: boolean
  result: unknown
  matched: boolean
  version: number
}

export function sequentialRegisterHistory (options: RegisterRunOptions): HistoryEvent[] {
  const random = seededRandom(options.seed)
  const infoRate = options.infoRate ?? 0.05
  const failRate = options.failRate ?? 0.03
  const recorder = new HistoryRecorder()
  const register = new Map<string, unknown>()
  const versionOfKey = new Map<string, number>()
  let applied = 0
  const written = new Map<string, unknown[]>()
  const inFlight = new Map<number, InFlight>()
  // Ops reported as info before they took effect: they may still take effect later.
  const lingering: InFlight[] = []
  let nextValue = 1
  let time = 0

  const apply = (op: InFlight): void => {
    const current = register.get(op.key) ?? null
    if (op.f === 'read') {
      op.result = current
      op.version = versionOfKey.get(op.key) ?? 0
      op.applied = true
      return
    }
    if (op.f === 'write') {
      register.set(op.key, op.input)
    } else if (op.f === 'delete') {
      register.set(op.key, null)
    } else {
      const [expected, next] = op.input as [unknown, unknown]
      op.matched = current === expected
      if (op.matched) register.set(op.key, next)
    }
    if (op.f !== 'cas' || op.matched) {
      op.version = ++applied
      versionOfKey.set(op.key, op.version)
    }
    op.applied = true
  }

  for (let step = 0; step < options.steps; step++) {
    time += 1 + randomInt(random, 3)
    if (lingering.length > 0 && random.next() < 0.05) {
      apply(lingering.splice(randomInt(random, lingering.length), 1)[0] as InFlight)
      continue
    }
    const p = randomInt(random, options.processes)
    const op = inFlight.get(p)
    if (op === undefined) {
      const key = `k${randomInt(random, options.keys)}`
      const f = pick(random, ['read', 'read', 'write', 'write', 'cas', 'delete'] as const)
      let input: unknown = null
      if (f === 'write') {
        input = nextValue++
        const list = written.get(key) ?? []
        list.push(input)
        written.set(key, list)
      } else if (f === 'cas') {
        const list = written.get(key) ?? []
        const expected = random.next() < 0.6 ? (register.get(key) ?? null) : (list.length > 0 ? pick(random, list) : null)
        input = [expected, nextValue++]
      }
      inFlight.set(p, { handle: recorder.invoke(p, f, key, input, time), f, key, input, applied: false, result: null, matched: false, version: 0 })
      continue
    }
    if (!op.applied) {
      const roll = random.next()
      if (roll < infoRate && op.f !== 'read') {
        op.handle.info(time)
        inFlight.delete(p)
        lingering.push(op)
      } else if (roll < infoRate + failRate) {
        op.handle.fail(time)
        inFlight.delete(p)
      } else {
        apply(op)
      }
      continue
    }
    if (random.next() < infoRate) op.handle.info(time)
    else if (op.f === 'cas' && !op.matched) op.handle.fail(time)
    else op.handle.ok(op.f === 'read' ? op.result : op.input, time, options.versions === true ? { version: op.version } : undefined)
    inFlight.delete(p)
  }
  return recorder.events()
}

function pick<T> (random: Random, list: readonly T[]): T {
  return list[randomInt(random, list.length)] as T
}
