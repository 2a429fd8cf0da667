import { InternalError } from '../../api/errors.js'
import type { ErrorDetails } from '../../api/errors.js'

/**
 * States an invariant of the Raft core. A broken invariant means the core (or the storage under
 * it) is corrupt: continuing could lose or duplicate committed data, so it stops with an
 * InternalError instead (TigerBeetle-style assertions).
 */
export function invariant (condition: boolean, message: string, details?: ErrorDetails): asserts condition {
  if (!condition) throw new InternalError(`raft invariant broken: ${message}`, details)
}
