import { InvalidArgumentError } from '../src/api/errors.js'

/**
 * The recorded history of a test run, in the Jepsen style: every call a client makes is an
 * `invoke` event followed, for the same process, by exactly one completion:
 *
 * - `ok`: the call took effect; for a read, `value` is what it returned.
 * - `fail`: the call definitely did not take effect.
 * - `info`: the outcome is unknown; a write may have taken effect, and may still take effect at
 *   any later time.
 *
 * Both the deterministic simulator (in-process) and the chaos harness (real processes) record
 * histories with `HistoryRecorder` and hand them to the checkers in `chaos/checkers/`. On disk a
 * history is JSON lines, one event per line.
 *
 * Optional fields the checkers understand (all others are kept and ignored):
 * - `session`: the session an op belongs to, when it is not simply its `process`.
 * - `version`: on an `ok` completion, the version the store reported for the value written or read.
 * - `deps`: on a write's invoke, the writes its caller had observed (see checkers/causal.ts).
 * - `replica`: the replica a read was served by (set and counter final reads, reports).
 * - `error`: on `fail` and `info`, the error code or message, for the human reading a report.
 */
export type EventType = 'invoke' | 'ok' | 'fail' | 'info'

export type ProcessId = number | string

/** Reserved field names: extra fields may not reuse them. */
const coreFields = ['process', 'type', 'f', 'key', 'value', 'time'] as const

export interface HistoryEvent {
  readonly process: ProcessId
  readonly type: EventType
  /** The function called: `read`, `write`, `cas`, `delete`, `add`, ... */
  readonly f: string
  readonly key: string
  /** Invoke: the argument. ok: the result (the value read; for writes, the value written). */
  readonly value: unknown
  /** Milliseconds on the recorder's clock. */
  readonly time: number
  readonly session?: string | number
  readonly version?: unknown
  readonly deps?: unknown
  readonly replica?: string
  readonly error?: string
  readonly [extra: string]: unknown
}

export type ExtraFields = Readonly<Record<string, unknown>>

/** How an operation ended. `pending`: no completion was recorded (the run stopped first). */
export type Outcome = 'ok' | 'fail' | 'info' | 'pending'

/** An invoke paired with its completion. */
export interface Operation {
  /** Position among the history's operations, in invoke order (0-based). */
  readonly index: number
  readonly process: ProcessId
  readonly f: string
  readonly key: string
  readonly outcome: Outcome
  /** The invoke's value (the argument). */
  readonly input: unknown
  /** The completion's value (the result); null when pending. */
  readonly output: unknown
  readonly invokeTime: number
  /** null when pending. An info op's effect may land after this time. */
  readonly completeTime: number | null
  /** Positions of the two events in the history. */
  readonly invokeIndex: number
  readonly completeIndex: number | null
  readonly invoke: HistoryEvent
  readonly complete: HistoryEvent | null
}

/** The session an op belongs to: its `session` field when set (on the invoke), else its process. */
export function sessionOf (op: Operation): string {
  const s = op.invoke.session
  return s === undefined ? `process:${String(op.process)}` : `session:${String(s)}`
}

/** The `version` field of the completion, else of the invoke, else undefined. */
export function versionOf (op: Operation): unknown {
  return op.complete?.version ?? op.invoke.version
}

export interface OpHandle {
  /** The call took effect. `value` is its result (for writes, usually the value written). */
  ok: (value: unknown, time: number, extra?: ExtraFields) => HistoryEvent
  /** The call definitely did not take effect. */
  fail: (time: number, extra?: ExtraFields) => HistoryEvent
  /** The outcome is unknown (timeout, connection lost, node crashed mid-call). */
  info: (time: number, extra?: ExtraFields) => HistoryEvent
}

/** Most events one recorder keeps; a run past it is a harness bug (an unbounded loop). */
export const historyEventsMax = 10_000_000

/**
 * Appends events in the order they happen. The order of `events()` is the real-time order the
 * checkers use to break ties between equal `time` values, so record from one thread of control
 * (the harness's event loop), not from several clocks merged later.
 */
export class HistoryRecorder {
  private readonly log: HistoryEvent[] = []
  private readonly outstanding = new Map<ProcessId, HistoryEvent>()

  invoke (process: ProcessId, f: string, key: string, value: unknown, time: number, extra?: ExtraFields): OpHandle {
    const event = makeEvent(process, 'invoke', f, key, value, time, extra)
    if (this.outstanding.has(process)) {
      throw new InvalidArgumentError(`process ${String(process)} invoked ${f} while its previous call is still outstanding: complete it first (a process is sequential)`, { process })
    }
    this.append(event)
    this.outstanding.set(process, event)
    let done = false
    const complete = (type: Exclude<EventType, 'invoke'>, result: unknown, at: number, more?: ExtraFields): HistoryEvent => {
      if (done) throw new InvalidArgumentError(`${f} on ${key} by process ${String(process)} was already completed`, { process, f, key })
      if (typeof at !== 'number' || !Number.isFinite(at) || at < time) {
        throw new InvalidArgumentError(`completion time ${String(at)} of ${f} by process ${String(process)} is before its invoke time ${time}`, { process, f, key })
      }
      const completion = makeEvent(process, type, f, key, result, at, more)
      done = true
      this.append(completion)
      this.outstanding.delete(process)
      return completion
    }
    return {
      ok: (result, at, more) => complete('ok', result, at, more),
      fail: (at, more) => complete('fail', value, at, more),
      info: (at, more) => complete('info', value, at, more)
    }
  }

  /** The events so far, oldest first. The array is a copy; the events are frozen. */
  events (): HistoryEvent[] {
    return this.log.slice()
  }

  /** One JSON object per line, each line ending in a newline. */
  toJsonLines (): string {
    return this.log.map(toJsonLine).join('')
  }

  private append (event: HistoryEvent): void {
    if (this.log.length >= historyEventsMax) {
      throw new InvalidArgumentError(`a history holds at most ${historyEventsMax} events; the workload did not stop`, { historyEventsMax })
    }
    this.log.push(event)
  }
}

export function toJsonLine (event: HistoryEvent): string {
  return JSON.stringify(event, jsonReplacer) + '\n'
}

export function toJsonLines (events: readonly HistoryEvent[]): string {
  return events.map(toJsonLine).join('')
}

function jsonReplacer (_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return Array.from(value)
  return value
}

function makeEvent (process: ProcessId, type: EventType, f: string, key: string, value: unknown, time: number, extra: ExtraFields | undefined): HistoryEvent {
  const problem = eventProblem({ process, type, f, key, value, time })
  if (problem !== undefined) throw new InvalidArgumentError(`invalid history event: ${problem}`, { process, f, key })
  const event: Record<string, unknown> = {}
  if (extra !== undefined) {
    for (const [name, v] of Object.entries(extra)) {
      if ((coreFields as readonly string[]).includes(name)) {
        throw new InvalidArgumentError(`extra field "${name}" would overwrite a core field of the event; rename it`, { field: name })
      }
      if (v !== undefined) event[name] = v
    }
  }
  Object.assign(event, { process, type, f, key, value: value === undefined ? null : value, time })
  return Object.freeze(event) as unknown as HistoryEvent
}

/** Why a decoded object is not a well-formed event, or undefined when it is one. */
function eventProblem (o: Record<string, unknown>): string | undefined {
  const p = o.process
  if (!((typeof p === 'number' && Number.isFinite(p)) || typeof p === 'string')) return '"process" must be a number or a string'
  if (o.type !== 'invoke' && o.type !== 'ok' && o.type !== 'fail' && o.type !== 'info') return '"type" must be one of invoke, ok, fail, info'
  if (typeof o.f !== 'string' || o.f.length === 0) return '"f" must be a non-empty string'
  if (typeof o.key !== 'string') return '"key" must be a string'
  if (typeof o.time !== 'number' || !Number.isFinite(o.time)) return '"time" must be a finite number'
  return undefined
}

/**
 * Reads a JSON-lines history. Blank lines are skipped; a missing `value` reads as null. Every
 * line must be a well-formed event and the events must pair up (see `operationsOf`); the error
 * names the first bad line (1-based).
 */
export function parseJsonLines (text: string): HistoryEvent[] {
  const events: HistoryEvent[] = []
  const lineOf: number[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim()
    if (line.length === 0) continue
    let decoded: unknown
    try {
      decoded = JSON.parse(line)
    } catch (err) {
      throw new InvalidArgumentError(`history line ${i + 1} is not valid JSON (${(err as Error).message}): ${clip(line)}`, { line: i + 1 })
    }
    if (decoded === null || typeof decoded !== 'object' || Array.isArray(decoded)) {
      throw new InvalidArgumentError(`history line ${i + 1} is not a JSON object: ${clip(line)}`, { line: i + 1 })
    }
    const o = decoded as Record<string, unknown>
    const problem = eventProblem(o)
    if (problem !== undefined) throw new InvalidArgumentError(`history line ${i + 1}: ${problem}: ${clip(line)}`, { line: i + 1 })
    if (!('value' in o)) o.value = null
    events.push(Object.freeze(o) as unknown as HistoryEvent)
    lineOf.push(i + 1)
  }
  try {
    operationsOf(events)
  } catch (err) {
    if (err instanceof InvalidArgumentError && typeof err.details.eventIndex === 'number') {
      const line = lineOf[err.details.eventIndex] ?? 0
      throw new InvalidArgumentError(`history line ${line}: ${err.message}`, { line })
    }
    throw err
  }
  return events
}

function clip (text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}...` : text
}

/**
 * Pairs each invoke with its completion. Rules: a completion needs an outstanding invoke of the
 * same process with the same `f` and `key`; a process invokes again only after its previous call
 * completed (a process reused after an `info` is fine: the unknown op stays concurrent with
 * everything after it). An invoke never completed is `pending` and is treated like `info`.
 * Throws InvalidArgumentError with `details.eventIndex` on a malformed history.
 */
export function operationsOf (events: readonly HistoryEvent[]): Operation[] {
  const open = new Map<ProcessId, number>()
  const ops: Array<{ invokeIndex: number, completeIndex: number | null }> = []
  const opOfInvoke = new Map<number, number>()
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as HistoryEvent
    if (e.type === 'invoke') {
      if (open.has(e.process)) {
        throw new InvalidArgumentError(`event ${i}: process ${String(e.process)} invoked ${e.f} while its call at event ${String(open.get(e.process))} is still outstanding`, { eventIndex: i })
      }
      open.set(e.process, i)
      opOfInvoke.set(i, ops.length)
      ops.push({ invokeIndex: i, completeIndex: null })
      continue
    }
    const inv = open.get(e.process)
    if (inv === undefined) {
      throw new InvalidArgumentError(`event ${i}: ${e.type} of ${e.f} by process ${String(e.process)} has no outstanding invoke`, { eventIndex: i })
    }
    const ie = events[inv] as HistoryEvent
    if (ie.f !== e.f || ie.key !== e.key) {
      throw new InvalidArgumentError(`event ${i}: ${e.type} of ${e.f} on "${e.key}" does not match the invoke of ${ie.f} on "${ie.key}" at event ${inv}`, { eventIndex: i })
    }
    if (e.time < ie.time) {
      throw new InvalidArgumentError(`event ${i}: completes at time ${e.time}, before its invoke at time ${ie.time}`, { eventIndex: i })
    }
    open.delete(e.process)
    const slot = ops[opOfInvoke.get(inv) as number]
    if (slot !== undefined) slot.completeIndex = i
  }
  return ops.map(({ invokeIndex, completeIndex }, index) => {
    const invoke = events[invokeIndex] as HistoryEvent
    const complete = completeIndex === null ? null : events[completeIndex] as HistoryEvent
    return Object.freeze({
      index,
      process: invoke.process,
      f: invoke.f,
      key: invoke.key,
      outcome: complete === null ? 'pending' : complete.type as Outcome,
      input: invoke.value,
      output: complete === null ? null : complete.value,
      invokeTime: invoke.time,
      completeTime: complete === null ? null : complete.time,
      invokeIndex,
      completeIndex,
      invoke,
      complete
    })
  })
}
