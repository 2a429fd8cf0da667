/**
 * Every error quorumkv gives a caller is a QuorumKvError with a stable `code`. Callers branch on
 * the class or the code, never on the message; the message says what to do next.
 */
export const ErrorCode = Object.freeze({
  Config: 'CONFIG',
  InvalidArgument: 'INVALID_ARGUMENT',
  TooLarge: 'TOO_LARGE',
  PreconditionFailed: 'PRECONDITION_FAILED',
  Consistency: 'CONSISTENCY',
  QuorumUnavailable: 'QUORUM_UNAVAILABLE',
  Timeout: 'TIMEOUT',
  Unauthorized: 'UNAUTHORIZED',
  Conflict: 'CONFLICT',
  Aborted: 'ABORTED',
  Closed: 'CLOSED',
  Overloaded: 'OVERLOADED',
  Storage: 'STORAGE',
  Protocol: 'PROTOCOL',
  NotLeader: 'NOT_LEADER',
  Unavailable: 'UNAVAILABLE',
  Internal: 'INTERNAL'
} as const)

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

export type ErrorDetails = Readonly<Record<string, unknown>>

export class QuorumKvError extends Error {
  readonly code: ErrorCode
  readonly details: ErrorDetails

  constructor (code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.details = details
  }

  override get name (): string {
    return this.constructor.name
  }

  toJSON (): { name: string, code: ErrorCode, message: string, details: ErrorDetails } {
    return { name: this.name, code: this.code, message: this.message, details: this.details }
  }
}

/** The configuration is invalid: fix the field the message names. */
export class ConfigError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.Config, message, details, options) }
}

/** An argument of a call is invalid: fix the call; retrying it unchanged fails again. */
export class InvalidArgumentError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.InvalidArgument, message, details, options) }
}

/** A key, value or message is over its configured limit. */
export class TooLargeError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.TooLarge, message, details, options) }
}

/** `ifMatch` named an etag that is no longer current: re-read the key and decide again. */
export class PreconditionFailedError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.PreconditionFailed, message, details, options) }
}

/** The level asked for is not offered on this collection; the message names what to use. */
export class ConsistencyError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.Consistency, message, details, options) }
}

/** Too few replicas answered to meet the quorum; the outcome of a write is unknown. */
export class QuorumUnavailableError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.QuorumUnavailable, message, details, options) }
}

/** The deadline passed; a write may or may not have taken effect. */
export class TimeoutError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.Timeout, message, details, options) }
}

/** The caller is not allowed to do this: ask an operator to grant the right. */
export class UnauthorizedError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.Unauthorized, message, details, options) }
}

/** Conflicting concurrent state (for example too many siblings): read, resolve, write with the context. */
export class ConflictError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.Conflict, message, details, options) }
}

/** The caller's AbortSignal fired; a write may or may not have taken effect. */
export class AbortedError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.Aborted, message, details, options) }
}

/** The node or client was stopped; create or connect a new one. */
export class ClosedError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.Closed, message, details, options) }
}

/** A bounded queue is full: back off and retry. Nothing was written. */
export class OverloadedError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.Overloaded, message, details, options) }
}

/** The disk failed a read or a synced write; the node stops accepting writes and must be restarted. */
export class StorageError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.Storage, message, details, options) }
}

/** A peer sent a message that breaks the protocol. */
export class ProtocolError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.Protocol, message, details, options) }
}

/** This replica is not the Raft leader; `details.leader` names the leader when known. */
export class NotLeaderError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.NotLeader, message, details, options) }
}

/** No node could serve the call (all unreachable); retry later or check the cluster. */
export class UnavailableError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.Unavailable, message, details, options) }
}

/** A bug in quorumkv: please report it with the logs. */
export class InternalError extends QuorumKvError {
  constructor (message: string, details?: ErrorDetails, options?: { cause?: unknown }) { super(ErrorCode.Internal, message, details, options) }
}

const classes: Readonly<Record<ErrorCode, new (message: string, details?: ErrorDetails) => QuorumKvError>> = {
  CONFIG: ConfigError,
  INVALID_ARGUMENT: InvalidArgumentError,
  TOO_LARGE: TooLargeError,
  PRECONDITION_FAILED: PreconditionFailedError,
  CONSISTENCY: ConsistencyError,
  QUORUM_UNAVAILABLE: QuorumUnavailableError,
  TIMEOUT: TimeoutError,
  UNAUTHORIZED: UnauthorizedError,
  CONFLICT: ConflictError,
  ABORTED: AbortedError,
  CLOSED: ClosedError,
  OVERLOADED: OverloadedError,
  STORAGE: StorageError,
  PROTOCOL: ProtocolError,
  NOT_LEADER: NotLeaderError,
  UNAVAILABLE: UnavailableError,
  INTERNAL: InternalError
}

export function isErrorCode (value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(classes, value)
}

/** Rebuilds an error that crossed the wire as `{ code, message, details }`. */
export function errorFromWire (code: unknown, message: unknown, details?: unknown): QuorumKvError {
  const text = typeof message === 'string' ? message.slice(0, 4096) : 'remote error'
  const extra = details !== null && typeof details === 'object' ? details as ErrorDetails : {}
  if (!isErrorCode(code)) return new ProtocolError(`peer sent an error with an unknown code: ${text}`, { code: String(code) })
  return new classes[code](text, extra)
}

/** Turns anything thrown into a QuorumKvError, keeping the original as `cause`. */
export function toQuorumKvError (err: unknown): QuorumKvError {
  if (err instanceof QuorumKvError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new InternalError(`unexpected internal error: ${message}`, {}, { cause: err })
}
