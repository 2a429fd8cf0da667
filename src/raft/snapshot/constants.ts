/**
 * Defaults of snapshot transfers that are not config fields. The config names the chunk size
 * (raft.snapshotChunkBytes), the cadence (raft.snapshotEveryEntries) and the entries kept behind a
 * snapshot (raft.catchUpEntries); these are the rest, passed through `init` where a driver wants
 * other values.
 */

/** Deadline of one chunk's request (a chunk of a few MiB plus a synced write on the far side). */
export const chunkTimeoutMsDefault = 10_000

/** Tries per chunk (the first send and its retries) before the transfer fails. */
export const chunkAttemptsMaxDefault = 5

/** Pause before retrying a chunk; grows linearly with the attempt. */
export const chunkRetryDelayMsDefault = 200

/** Outbound transfers at once: each holds an open view of the state machine and one chunk. */
export const transfersMaxDefault = 2

/**
 * After a transfer to a peer failed, new transfers to it are refused for this long. The core asks
 * again at every heartbeat reply from a follower that needs a snapshot; without a pause a follower
 * that refuses every snapshot would have one opened and streamed for it many times a second.
 */
export const failureBackoffMsDefault = 2_000

/** Sending rate; 0 is unlimited (a transfer is then paced only by the receiver's acknowledgements). */
export const bytesPerSecondMaxDefault = 0

/** Largest snapshot a follower accepts (it stages the whole stream on disk before installing). */
export const snapshotBytesMaxDefault = 64 * 1024 * 1024 * 1024

/** Chunk requests of one node waiting for the one being written; more get OverloadedError. */
export const receiverQueuedRequestsMaxDefault = 4

/** Longest transfer id. */
export const transferIdCharsMax = 64
