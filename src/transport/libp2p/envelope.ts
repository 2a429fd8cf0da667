import type { ErrorDetails } from '../../api/errors.js'

/**
 * The wire envelope: a msgpack array whose first element is the kind. Arrays, not maps: they
 * encode and decode faster and the guards below check them without allocating. docs/protocol.md
 * is the reference for this layout; change both together.
 *
 *   [0, body]                           one-way message            dialer -> listener
 *   [1, id, body]                       request                    dialer -> listener
 *   [4, id]                             cancel request id          dialer -> listener
 *   [2, id, body]                       response                   listener -> dialer
 *   [3, id, code, message, details]     error response             listener -> dialer
 */
export const Kind = Object.freeze({ Msg: 0, Req: 1, Res: 2, Err: 3, Cancel: 4 } as const)

export type MsgEnvelope = readonly [typeof Kind.Msg, unknown]
export type ReqEnvelope = readonly [typeof Kind.Req, number, unknown]
export type CancelEnvelope = readonly [typeof Kind.Cancel, number]
export type ResEnvelope = readonly [typeof Kind.Res, number, unknown]
export type ErrEnvelope = readonly [typeof Kind.Err, number, string, string, ErrorDetails | null]

/** What a dialer may send on its stream. */
export type ToListener = MsgEnvelope | ReqEnvelope | CancelEnvelope
/** What a listener may send back. */
export type ToDialer = ResEnvelope | ErrEnvelope

export const requestIdMax = 0xffff_ffff

/** Why an envelope failed its guard; `id` is set when a request id could still be read. */
export class Malformed {
  constructor (readonly problem: string, readonly id: number | undefined) {}
}

export function isRequestId (value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= requestIdMax
}

export function guardToListener (raw: unknown): ToListener | Malformed {
  if (!Array.isArray(raw)) return new Malformed('envelope is not an array', undefined)
  switch (raw[0]) {
    case Kind.Msg:
      return raw.length === 2 ? raw as unknown as MsgEnvelope : new Malformed('a message envelope has 2 elements', undefined)
    case Kind.Req: {
      const id: unknown = raw[1]
      if (!isRequestId(id)) return new Malformed('a request id is an integer in [0, 2^32)', undefined)
      return raw.length === 3 ? raw as unknown as ReqEnvelope : new Malformed('a request envelope has 3 elements', id)
    }
    case Kind.Cancel:
      return raw.length === 2 && isRequestId(raw[1]) ? raw as unknown as CancelEnvelope : new Malformed('a cancel envelope is [4, id]', undefined)
    case Kind.Res: case Kind.Err:
      return new Malformed('responses travel only from listener to dialer', undefined)
    default:
      return new Malformed('unknown envelope kind', undefined)
  }
}

export function guardToDialer (raw: unknown): ToDialer | Malformed {
  if (!Array.isArray(raw)) return new Malformed('envelope is not an array', undefined)
  const id: unknown = raw[1]
  if (!isRequestId(id)) return new Malformed('a response id is an integer in [0, 2^32)', undefined)
  switch (raw[0]) {
    case Kind.Res:
      return raw.length === 3 ? raw as unknown as ResEnvelope : new Malformed('a response envelope has 3 elements', id)
    case Kind.Err: {
      const details: unknown = raw[4]
      const detailsOk = details === null || details === undefined || (typeof details === 'object' && !Array.isArray(details))
      if (raw.length === 5 && typeof raw[2] === 'string' && typeof raw[3] === 'string' && detailsOk) return raw as unknown as ErrEnvelope
      return new Malformed('an error envelope is [3, id, code, message, details]', id)
    }
    default:
      return new Malformed('only responses travel from listener to dialer', id)
  }
}
