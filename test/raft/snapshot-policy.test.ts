import { describe, expect, it } from 'vitest'
import { compactionIndex, snapshotDue } from '../../src/raft/snapshot.js'

describe('snapshot policy', () => {
  it('a snapshot is due once snapshotEveryEntries entries were applied since the last one', () => {
    expect(snapshotDue(99, 0, 100)).toBe(false)
    expect(snapshotDue(100, 0, 100)).toBe(true)
    expect(snapshotDue(250, 200, 100)).toBe(false)
  })

  it('compaction keeps catchUpEntries behind the snapshot', () => {
    expect(compactionIndex(1_000, 100, undefined)).toBe(900)
    expect(compactionIndex(50, 100, undefined)).toBe(0)
    expect(compactionIndex(1_000, 0, undefined)).toBe(1_000)
  })

  it('compaction never passes a snapshot being sent, so its follower continues from entries', () => {
    expect(compactionIndex(1_000, 100, 600)).toBe(600)
    expect(compactionIndex(1_000, 100, 950)).toBe(900)
    // A view still opening (index unknown) holds compaction entirely.
    expect(compactionIndex(1_000, 100, 0)).toBe(0)
  })
})
