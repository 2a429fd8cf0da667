/**
 * Fixed limits of anti-entropy. The tunables operators set live in config (`antiEntropy.*`);
 * these bound message sizes and work per step so that one exchange cannot swamp either side.
 */

/** Tree levels asked for per `hashes` round trip: 2^4 = 16 child hashes per differing node. */
export const hashStepLevels = 4

/** Nodes whose children one `hashes` or `keys` request asks for. */
export const nodesPerRequestMax = 256

/**
 * A differing segment with at most this many keys on both sides is settled by listing its keys
 * instead of descending further: below that, hashes cost more bytes than the keys themselves.
 */
export const segmentKeysMax = 16

/** Key digests one `keys` reply carries at most (it says `more` when it had to stop). */
export const keysPerReplyMax = 4_096

/** Records one `get` or `push` carries at most. */
export const recordsPerMessageMax = 128

/** Round trips one range exchange makes at most before it is left for a later round. */
export const requestsPerExchangeMax = 64

/** Index entries the start-up rebuild reads between two pauses (rate limit of the one scan). */
export const rebuildBatchKeys = 10_000

/** Keys the rebuild scan reads per second at most, so a restart does not starve requests. */
export const rebuildKeysPerSecondMax = 500_000

/** Key bytes accepted in a message (keys longer than this were never accepted by a write). */
export const keyCharsMax = 4_096

/** Records merged at once (each a synced write; concurrent ones share an fsync). */
export const mergeConcurrencyMax = 32

/** Rounds between two rebuilds caused by a phantom difference (it may be the peer's tree that is off). */
export const suspectRebuildRoundsMin = 10

/**
 * Replies and pushes stop adding records or keys once past this many bytes (always at least one),
 * well under the transport's frame limit (limits.frameBytesMax, 4 MiB by default).
 */
export const messageBytesTarget = 1024 * 1024

/**
 * Records and index entries checked against each other per round (IndexScrubber): at the default
 * 10 s interval a pass over 1,000,000 keys takes about 17 minutes.
 */
export const scrubKeysPerRound = 10_000
