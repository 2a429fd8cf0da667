import type { DestinationStream } from 'pino'

/**
 * A pino destination for a terminal: `12:03:04.567 INFO  node1  node started  peer=12D3… …`.
 * pino-pretty is not a dependency; this covers what an operator reads at a glance, and JSON stays
 * the default whenever output is not a terminal.
 */
const levels: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' }
const colors: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' }
const omitted = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'v'])
const fieldCharsMax = 200

export function prettyDestination (out: NodeJS.WritableStream, color: boolean): DestinationStream {
  return {
    write (line: string): void {
      out.write(formatLine(line, color))
    }
  }
}

export function formatLine (line: string, color: boolean): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(line) as Record<string, unknown>
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`
  }
  const level = typeof entry.level === 'number' ? entry.level : 30
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 23) : ''
  const label = levels[level] ?? String(level)
  const paint = (code: string | undefined, text: string): string => color && code !== undefined ? `\u001b[${code}m${text}\u001b[0m` : text
  const fields = Object.entries(entry)
    .filter(([k]) => !omitted.has(k))
    .map(([k, v]) => `${k}=${field(v)}`)
    .join(' ')
  const name = typeof entry.name === 'string' ? `${entry.name}  ` : ''
  const msg = typeof entry.msg === 'string' ? entry.msg : ''
  return `${paint('90', time)} ${paint(colors[level], label)} ${name}${msg}${fields === '' ? '' : `  ${paint('90', fields)}`}\n`
}

function field (value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value)
  return text.length > fieldCharsMax ? `${text.slice(0, fieldCharsMax)}…` : text
}
