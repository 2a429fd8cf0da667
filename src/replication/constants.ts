/**
 * Defaults and bounds of the quorum replication layer that are not (yet) config fields. Config
 * fields (quorum.*, limits.*, timeouts.*) are passed in through `init`; these are the rest.
 */

/** Node-wide dot sequence numbers reserved per synced write of the reservation. */
export const seqReserveBlock = 4_096

/** Operations queued on one key's lock before OverloadedError. */
export const keyWaitersMax = 1_024

/** Hinted keys sent to one target per handoff round, and handoff requests in flight at once. */
export const handoffKeysPerRoundMax = 256
export const handoffInflightMax = 8

/** Tombstones examined per reap round. */
export const reapKeysPerRoundMax = 64

/**
 * A read asks as many replicas as it needs (r, this node first); one that has not answered within
 * this long gets the next replica asked beside it (a speculative read, as Cassandra retries).
 */
export const readSpeculativeMs = 20
/** Extra read rounds a read-your-writes/causal/bounded read makes while replicas catch up. */
export const readRoundsMax = 8
/** Pause between such rounds; doubles each round up to readRetryDelayMaxMs. */
export const readRetryDelayMs = 20
export const readRetryDelayMaxMs = 500

/** A peer whose request failed is not chosen as a target for this long (no gossip yet). */
export const suspectMs = 1_000

/** Coordinator forwards tried before giving up (only on errors that guarantee nothing happened). */
export const forwardAttemptsMax = 3

/** Background work (read repairs) in flight at once; past it, it is skipped. */
export const backgroundTasksMax = 1_024

/**
 * Replicate requests (batches of states, replicate-batcher.ts) in flight to one peer at once;
 * states queue behind them and go together in the next.
 */
export const replicateInflightBatchesMax = 2

/** Bytes of a replicate frame left for keys, hints and the envelope beside the encoded records. */
export const replicateFrameMarginBytes = 64 * 1024

/** States queued for one peer at most, in each of the batcher's two queues (foreground, background). */
export const replicateQueuedMax = 8_192
