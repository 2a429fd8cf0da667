/**
 * When the leader (or any member) snapshots and how far it compacts its log. Pure arithmetic,
 * kept apart so the driver's choice is testable and the same on every node.
 */

/** A snapshot is due once `everyEntries` entries were applied since the last one. */
export function snapshotDue (applied: number, lastSnapshotIndex: number, everyEntries: number): boolean {
  return applied - lastSnapshotIndex >= everyEntries
}

/**
 * The index to compact the log to after a snapshot at `snapshotIndex`: `catchUpEntries` stay
 * behind it so a follower that is only a little behind catches up from entries, and nothing past
 * `sendingFloor` (SnapshotSender.compactionFloor()) goes, so a follower that receives a snapshot
 * finds the entries that follow it instead of needing another snapshot (a long transfer would
 * otherwise loop). 0 means: compact nothing.
 */
export function compactionIndex (snapshotIndex: number, catchUpEntries: number, sendingFloor: number | undefined): number {
  let to = snapshotIndex - catchUpEntries
  if (sendingFloor !== undefined) to = Math.min(to, sendingFloor)
  return Math.max(0, to)
}
