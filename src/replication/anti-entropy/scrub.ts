import { digestOfRecordBytes, indexKey, parseIndexEntry, type IndexedEngine } from './key-index.js'

/**
 * Checks the key index against the records, a slice per call, and fixes what disagrees. The index
 * is written with every record, so it only goes stale when a record is written around the
 * indexing engine (a file restored under a running node, a tool, a bug). The trees are built from
 * the index, so a stale entry hides the record from anti-entropy entirely. Riak expires and
 * rebuilds its trees from the data for the same reason. Two cursors walk `data` (records whose
 * entry is missing or stale) and the index (entries whose record is gone). Each fix re-derives the
 * entry under the key's lock, and the trees follow.
 */
export class IndexScrubber {
  private dataCursor: string | undefined
  private indexCursor: string | undefined
  /** Completed passes over both, for tests and status. */
  passes = 0

  constructor (
    private readonly engine: IndexedEngine,
    private readonly withKey: <T>(key: string, fn: () => Promise<T>) => Promise<T>
  ) {}

  /** Checks up to `keys` records and `keys` index entries; returns how many entries it fixed. */
  async step (keys: number): Promise<number> {
    const inner = this.engine.inner
    const suspects = new Set<string>()

    const records: Array<[string, Uint8Array]> = []
    for await (const e of inner.entries('data', { ...after(this.dataCursor), limit: keys })) records.push(e)
    const stored = await inner.getMany('antientropy', records.map(([k]) => indexKey(k)))
    records.forEach(([k, v], i) => {
      const entry = stored[i]
      const want = digestOfRecordBytes(v)
      const have = entry === undefined ? undefined : Buffer.from(entry).toString('utf8')
      if (want !== have) suspects.add(k)
    })
    const dataDone = records.length < keys
    this.dataCursor = dataDone ? undefined : records[records.length - 1]?.[0]

    const entries: string[] = []
    let lastIndexKey: string | undefined
    for await (const [k, v] of inner.entries('antientropy', { ...after(this.indexCursor ?? 'k'), lt: 'l', limit: keys })) {
      lastIndexKey = k
      const e = parseIndexEntry(k, v)
      if (e !== undefined) entries.push(e.key)
    }
    const present = await inner.getMany('data', entries)
    entries.forEach((k, i) => { if (present[i] === undefined) suspects.add(k) })
    const indexDone = lastIndexKey === undefined || entries.length < keys
    this.indexCursor = indexDone ? undefined : lastIndexKey
    if (dataDone && indexDone) this.passes++

    let fixed = 0
    for (const k of suspects) if (await this.withKey(k, async () => await this.engine.reindex(k))) fixed++
    return fixed
  }
}

/** The range strictly after `cursor` (the smallest string greater than it is cursor + NUL). */
function after (cursor: string | undefined): { gte?: string } {
  return cursor === undefined ? {} : { gte: cursor + '\u0000' }
}
