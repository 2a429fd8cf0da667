import { describe, expect, it } from 'vitest'
import { QuorumKvError, UnauthorizedError } from '../../src/api/errors.js'
import { CliError, ExitCode, formatError, UsageError } from '../../src/cli/errors.js'
import { parseConsistency, parseHttpListen, parseIntFlag, parsePeers, parseValue, showValue } from '../../src/cli/parse.js'
import { formatLine } from '../../src/cli/pretty-log.js'

describe('command-line values', () => {
  it('parses a value as JSON when it parses, else keeps the text', () => {
    expect(parseValue('42', false)).toBe(42)
    expect(parseValue('true', false)).toBe(true)
    expect(parseValue('{"a":[1,2]}', false)).toEqual({ a: [1, 2] })
    expect(parseValue('"42"', false)).toBe('42')
    expect(parseValue('hello world', false)).toBe('hello world')
    expect(parseValue('{not json', false)).toBe('{not json')
    expect(parseValue('42', true)).toBe('42')
  })

  it('shows text as is, other values as JSON, bytes as base64', () => {
    expect(showValue('hello')).toBe('hello')
    expect(showValue(42)).toBe('42')
    expect(showValue({ a: 1 })).toBe('{"a":1}')
    expect(showValue(null)).toBe('null')
    expect(showValue({ b: new Uint8Array([1, 2, 3]) })).toBe('{"b":{"$base64":"AQID"}}')
    expect(showValue(Buffer.from([255]))).toBe('{"$base64":"/w=="}')
  })

  it('binds a bare --http port to 127.0.0.1 and checks host:port', () => {
    expect(parseHttpListen('9464')).toBe('127.0.0.1:9464')
    expect(parseHttpListen('0.0.0.0:9464')).toBe('0.0.0.0:9464')
    expect(() => parseHttpListen('99999')).toThrow(UsageError)
    expect(() => parseHttpListen('localhost')).toThrow(/--http must be a port or host:port/)
  })

  it('accepts peers comma-separated or repeated, and only addresses that name a peer id', () => {
    const a = '/ip4/127.0.0.1/tcp/7001/p2p/12D3KooWQTAmekLhUmKpGY5UjBjywuPdxJFzhPvX2bP143UH4Qzb'
    const b = '/ip4/127.0.0.1/tcp/7002/p2p/12D3KooWN3iLfAupmz6NQoPauj8RxkJL8HEuaejg7jCLQQKaA34D'
    expect(parsePeers([`${a},${b}`])).toEqual([a, b])
    expect(parsePeers([a, b])).toEqual([a, b])
    expect(() => parsePeers(['/ip4/127.0.0.1/tcp/7001'])).toThrow(/not a multiaddr ending in \/p2p\/<peerId>/)
    expect(() => parsePeers([','])).toThrow(/at least one/)
  })

  it('refuses integers out of range and unknown consistency levels with the flag named', () => {
    expect(parseIntFlag('--nodes', '3', 1, 16)).toBe(3)
    expect(() => parseIntFlag('--nodes', '17', 1, 16)).toThrow('--nodes must be an integer from 1 to 16, got "17"')
    expect(() => parseIntFlag('--nodes', '2.5', 1, 16)).toThrow(UsageError)
    expect(() => parseIntFlag('--nodes', '', 1, 16)).toThrow(UsageError)
    expect(parseConsistency('causal')).toBe('causal')
    expect(() => parseConsistency('linearizable')).toThrow(/--consistency must be one of strong, bounded/)
  })
})

describe('errors on the command line', () => {
  it('maps usage errors to exit 2 and failures to exit 1 with their code', () => {
    expect(formatError(new UsageError('bad flag'), false)).toEqual({ text: 'error: bad flag\n(run with --help for usage)\n', exitCode: ExitCode.Usage })
    expect(formatError(new UnauthorizedError('not allowed'), false)).toEqual({ text: 'error UNAUTHORIZED: not allowed\n', exitCode: ExitCode.Failure })
    expect(formatError(new CliError('NO_CLUSTER', 'nothing here'), false).text).toBe('error NO_CLUSTER: nothing here\n')
    expect(formatError(new Error('boom'), false).text).toBe('error: boom\n')
  })

  it('adds details, the stack and the causes only with --debug', () => {
    const err = new QuorumKvError('TIMEOUT', 'too slow', { timeoutMs: 5 }, { cause: new Error('socket closed') })
    expect(formatError(err, false).text).not.toContain('at ')
    const text = formatError(err, true).text
    expect(text).toContain('details: {"timeoutMs":5}')
    expect(text).toMatch(/\n\s+at /)
    expect(text).toContain('caused by:\nError: socket closed')
  })
})

describe('readable logs on a terminal', () => {
  it('puts time, level, name and message first, then the fields', () => {
    const line = JSON.stringify({ level: 30, time: Date.UTC(2026, 0, 1, 12, 3, 4, 567), pid: 1, hostname: 'h', name: 'node1', event: 'node_started', peer: 'P', msg: 'node started' })
    expect(formatLine(line, false)).toBe('12:03:04.567 INFO  node1  node started  event=node_started peer=P\n')
    expect(formatLine(line, true)).toContain('\u001b[32mINFO \u001b[0m')
  })

  it('passes a line that is not JSON through unchanged', () => {
    expect(formatLine('plain text', false)).toBe('plain text\n')
  })
})
