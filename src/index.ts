// The public API of quorumkv. Everything not exported here is internal and may change.
import './runtime/polyfill.js'

export { createNode } from './node.js'
export type { QuorumKvNode, NodeComponents } from './node.js'
export { ConsistencyLevel, consistencyLevels, isConsistencyLevel } from './api/consistency.js'
export {
  QuorumKvError, ErrorCode, ConfigError, InvalidArgumentError, TooLargeError, PreconditionFailedError,
  ConsistencyError, QuorumUnavailableError, TimeoutError, UnauthorizedError, ConflictError, AbortedError,
  ClosedError, OverloadedError, StorageError, ProtocolError, NotLeaderError, UnavailableError, InternalError
} from './api/errors.js'
export type { Client, Entry, ReadOptions, WriteOptions, WriteResult, CallOptions, Value, RaftStatusView, MemberStatus } from './api/types.js'
export { parseConfig } from './config/parse.js'
export type { Config, ConfigInput, CollectionConfig } from './config/schema.js'
export { connect } from './client/connect.js'
export type { ConnectOptions } from './client/connect.js'
export { generateIdentity } from './transport/libp2p/identity.js'
