import { describe, expect, it } from 'vitest'
import { HistoryRecorder, operationsOf, parseJsonLines, sessionOf, toJsonLines, versionOf } from '../../chaos/history.js'
import { InvalidArgumentError } from '../../src/api/errors.js'

describe('HistoryRecorder', () => {
  it('records an invoke and its completion as Jepsen-style events', () => {
    const r = new HistoryRecorder()
    const w = r.invoke(1, 'write', 'k', 5, 10)
    const rd = r.invoke(2, 'read', 'k', null, 11)
    w.ok(5, 12, { version: 'v1' })
    rd.ok(5, 13)
    expect(r.events()).toEqual([
      { process: 1, type: 'invoke', f: 'write', key: 'k', value: 5, time: 10 },
      { process: 2, type: 'invoke', f: 'read', key: 'k', value: null, time: 11 },
      { process: 1, type: 'ok', f: 'write', key: 'k', value: 5, time: 12, version: 'v1' },
      { process: 2, type: 'ok', f: 'read', key: 'k', value: 5, time: 13 }
    ])
  })

  it('fail and info completions carry the invoke value and extra fields', () => {
    const r = new HistoryRecorder()
    r.invoke('a', 'write', 'k', 1, 0).fail(1, { error: 'PRECONDITION_FAILED' })
    r.invoke('a', 'write', 'k', 2, 2).info(3, { error: 'TIMEOUT' })
    const events = r.events()
    expect(events[1]).toEqual({ process: 'a', type: 'fail', f: 'write', key: 'k', value: 1, time: 1, error: 'PRECONDITION_FAILED' })
    expect(events[3]).toEqual({ process: 'a', type: 'info', f: 'write', key: 'k', value: 2, time: 3, error: 'TIMEOUT' })
  })

  it('refuses a second invoke by a process whose call is outstanding', () => {
    const r = new HistoryRecorder()
    r.invoke(1, 'read', 'k', null, 0)
    expect(() => r.invoke(1, 'read', 'k', null, 1)).toThrow(InvalidArgumentError)
  })

  it('refuses completing a call twice, or before it was invoked', () => {
    const r = new HistoryRecorder()
    const h = r.invoke(1, 'read', 'k', null, 5)
    expect(() => h.ok(null, 4)).toThrow(/before its invoke/)
    h.ok(null, 6)
    expect(() => h.fail(7)).toThrow(/already completed/)
  })

  it('refuses extra fields that would overwrite core fields, and malformed events', () => {
    const r = new HistoryRecorder()
    expect(() => r.invoke(1, 'read', 'k', null, 0, { time: 3 })).toThrow(/core field/)
    expect(() => r.invoke(1, '', 'k', null, 0)).toThrow(/"f"/)
    expect(() => r.invoke(1, 'read', 'k', null, Number.NaN)).toThrow(/"time"/)
  })

  it('round-trips through JSON lines', () => {
    const r = new HistoryRecorder()
    r.invoke(0, 'write', 'k', { a: [1, 2] }, 1).ok({ a: [1, 2] }, 2)
    r.invoke(0, 'cas', 'k', [{ a: [1, 2] }, 'x'], 3).info(4)
    r.invoke(1, 'read', 'k', null, 5)
    const text = r.toJsonLines()
    expect(text.split('\n')).toHaveLength(6)
    expect(parseJsonLines(text)).toEqual(r.events())
    expect(toJsonLines(r.events())).toBe(text)
  })
})

describe('parseJsonLines', () => {
  it('skips blank lines and defaults a missing value to null', () => {
    const events = parseJsonLines('\n{"process":0,"type":"invoke","f":"read","key":"k","time":1}\n\n{"process":0,"type":"ok","f":"read","key":"k","value":3,"time":2}\n')
    expect(events).toHaveLength(2)
    expect(events[0]?.value).toBeNull()
  })

  it('names the line of invalid JSON', () => {
    const text = '{"process":0,"type":"invoke","f":"read","key":"k","time":1}\n\n{"process":0,"type":"ok",\n'
    expect(() => parseJsonLines(text)).toThrow(/line 3 is not valid JSON/)
  })

  it('names the line and the field of a malformed event', () => {
    expect(() => parseJsonLines('{"process":0,"type":"done","f":"read","key":"k","time":1}')).toThrow(/line 1: "type"/)
    expect(() => parseJsonLines('[1,2]')).toThrow(/line 1 is not a JSON object/)
    expect(() => parseJsonLines('{"process":true,"type":"ok","f":"read","key":"k","time":1}')).toThrow(/"process"/)
    expect(() => parseJsonLines('{"process":0,"type":"ok","f":"read","key":3,"time":1}')).toThrow(/"key"/)
  })

  it('names the line of a completion without an invoke', () => {
    const text = [
      '{"process":0,"type":"invoke","f":"read","key":"k","time":1}',
      '{"process":0,"type":"ok","f":"read","key":"k","time":2}',
      '{"process":0,"type":"ok","f":"read","key":"k","time":3}'
    ].join('\n')
    expect(() => parseJsonLines(text)).toThrow(/history line 3: .*no outstanding invoke/)
  })

  it('names the line of a completion that does not match its invoke', () => {
    const text = '{"process":0,"type":"invoke","f":"read","key":"k","time":1}\n{"process":0,"type":"ok","f":"write","key":"k","time":2}'
    expect(() => parseJsonLines(text)).toThrow(/history line 2: .*does not match/)
  })
})

describe('operationsOf', () => {
  it('pairs invokes with completions and marks unfinished calls pending', () => {
    const r = new HistoryRecorder()
    r.invoke(0, 'write', 'k', 1, 0)
    r.invoke(1, 'read', 'k', null, 1, { session: 's1' }).ok(1, 2, { version: 7 })
    const ops = operationsOf(r.events())
    expect(ops).toHaveLength(2)
    expect(ops[0]).toMatchObject({ index: 0, process: 0, f: 'write', outcome: 'pending', input: 1, output: null, completeTime: null, completeIndex: null })
    expect(ops[1]).toMatchObject({ index: 1, process: 1, outcome: 'ok', output: 1, invokeTime: 1, completeTime: 2, invokeIndex: 1, completeIndex: 2 })
    expect(sessionOf(ops[1] as never)).toBe('session:s1')
    expect(sessionOf(ops[0] as never)).toBe('process:0')
    expect(versionOf(ops[1] as never)).toBe(7)
  })

  it('lets a process invoke again after an info completion', () => {
    const r = new HistoryRecorder()
    r.invoke(0, 'write', 'k', 1, 0).info(1)
    r.invoke(0, 'write', 'k', 2, 2).ok(2, 3)
    expect(operationsOf(r.events()).map((o) => o.outcome)).toEqual(['info', 'ok'])
  })
})
