import type { Entry } from './types.js'

/**
 * Every size limit counts an entry as its payload plus a fixed overhead, so that a flood of empty
 * entries is still bounded by byte limits (and a byte limit also bounds the entry count).
 */
export const entryOverheadBytes = 32

export function entryBytes (entry: Entry): number {
  return entry.data.byteLength + entryOverheadBytes
}

/**
 * The longest prefix of `entries` within `bytesMax` and `countMax`, never empty when `entries` is
 * not: an entry larger than the limit still travels alone, or the log could never make progress.
 */
export function limitEntries (entries: Entry[], bytesMax: number, countMax = Number.MAX_SAFE_INTEGER): Entry[] {
  if (entries.length === 0) return entries
  let total = entryBytes(entries[0] as Entry)
  let n = 1
  while (n < entries.length && n < countMax) {
    total += entryBytes(entries[n] as Entry)
    if (total > bytesMax) break
    n++
  }
  return n === entries.length ? entries : entries.slice(0, n)
}
