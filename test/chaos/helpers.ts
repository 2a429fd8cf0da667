import type { EventType, HistoryEvent, ProcessId } from '../../chaos/history.js'

/** One call written as an interval; `build` turns calls into a time-ordered event list. */
export interface Call {
  process: ProcessId
  f: string
  key: string
  input: unknown
  invoke: number
  /** Omitted: never completed (pending). */
  complete?: number
  outcome?: Exclude<EventType, 'invoke'>
  /** The completion's value; defaults to the input. */
  output?: unknown
  invokeExtra?: Record<string, unknown>
  completeExtra?: Record<string, unknown>
}

export function call (process: ProcessId, f: string, key: string, input: unknown, invoke: number, complete?: number, outcome: Exclude<EventType, 'invoke'> = 'ok', output?: unknown): Call {
  return { process, f, key, input, invoke, complete, outcome, output }
}

export const read = (p: ProcessId, key: string, value: unknown, invoke: number, complete: number): Call => call(p, 'read', key, null, invoke, complete, 'ok', value)
export const write = (p: ProcessId, key: string, value: unknown, invoke: number, complete?: number, outcome: Exclude<EventType, 'invoke'> = 'ok'): Call => call(p, 'write', key, value, invoke, complete, outcome)
export const cas = (p: ProcessId, key: string, expected: unknown, next: unknown, invoke: number, complete?: number, outcome: Exclude<EventType, 'invoke'> = 'ok'): Call => call(p, 'cas', key, [expected, next], invoke, complete, outcome)

/**
 * Events ordered by time; at equal times a completion comes before an invoke (the earlier call
 * returned first), otherwise the order the calls were listed in.
 */
export function build (calls: readonly Call[]): HistoryEvent[] {
  const rows: Array<{ t: number, rank: number, seq: number, event: HistoryEvent }> = []
  calls.forEach((c, seq) => {
    if (c.complete !== undefined && c.complete <= c.invoke) throw new Error('a call must complete after its invoke time')
    rows.push({ t: c.invoke, rank: 1, seq, event: { ...(c.invokeExtra ?? {}), process: c.process, type: 'invoke', f: c.f, key: c.key, value: c.input, time: c.invoke } })
    if (c.complete !== undefined) {
      const value = c.output !== undefined ? c.output : c.input
      rows.push({ t: c.complete, rank: 0, seq, event: { ...(c.completeExtra ?? {}), process: c.process, type: c.outcome ?? 'ok', f: c.f, key: c.key, value, time: c.complete } })
    }
  })
  rows.sort((x, y) => x.t - y.t || x.rank - y.rank || x.seq - y.seq)
  return rows.map((r) => r.event)
}
