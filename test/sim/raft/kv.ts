/**
 * The simulator's state machine: registers per key with write and compare-and-set, applied from
 * committedEntries in log order. Commands are JSON so a failing run's log is readable.
 */
export type Command =
  | { c: number, s: number, o: 'w', k: string, v: string }
  | { c: number, s: number, o: 'cas', k: string, e: string | null, v: string }

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeCommand (cmd: Command): Uint8Array {
  return encoder.encode(JSON.stringify(cmd))
}

export function decodeCommand (data: Uint8Array): Command {
  return JSON.parse(decoder.decode(data)) as Command
}

export class KvStore {
  readonly map: Map<string, string>

  constructor (map?: Map<string, string>) {
    this.map = map ?? new Map()
  }

  get (key: string): string | null {
    return this.map.get(key) ?? null
  }

  /** Applies a command; returns whether it took effect (a cas whose expectation failed did not). */
  apply (cmd: Command): boolean {
    if (cmd.o === 'w') {
      this.map.set(cmd.k, cmd.v)
      return true
    }
    if (this.get(cmd.k) !== cmd.e) return false
    this.map.set(cmd.k, cmd.v)
    return true
  }

  clone (): KvStore {
    return new KvStore(new Map(this.map))
  }
}
