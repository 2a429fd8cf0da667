/** Where `npm start` and `quorumkv cluster up` put a local cluster, and where other commands look. */
export const defaultDir = '.quorumkv'

/** Deadline of one client or admin call when `--timeout-ms` names none. */
export const defaultTimeoutMs = 5_000
