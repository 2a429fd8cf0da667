import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ConfigError } from '../api/errors.js'
import type { Logger } from './logger.js'

/**
 * The node's HTTP endpoint for operators: `GET /metrics` (Prometheus text), `GET /healthz` (the
 * process serves) and `GET /readyz` (a leader is known). Nothing else: no data is reachable over
 * HTTP, so it can stay unauthenticated as long as it listens on a private address (127.0.0.1 by
 * default, see docs/operations.md).
 */
export interface HealthReport {
  peerId: string
  /** The Raft leader this node knows of; a node alone is its own leader. */
  leader: string | null
  appliedIndex: number
}

export interface HttpServerOptions {
  /** `host:port` (config `http.listen`); port 0 picks a free one. */
  listen: string
  logger: Logger
  metrics: () => Promise<string>
  health: () => HealthReport
}

export interface HttpEndpoint {
  /** The bound `host:port` (the real port when 0 was asked for). */
  readonly address: string
  close: () => Promise<void>
}

// A scraper and a health checker need a couple of connections; a flood gets refused, not queued.
const connectionsMax = 32
const requestTimeoutMs = 5_000
const closeTimeoutMs = 2_000

export async function startHttpServer (options: HttpServerOptions): Promise<HttpEndpoint> {
  const { host, port } = parseHostPort(options.listen)
  let closing = false
  const server = createServer({ requestTimeout: requestTimeoutMs, headersTimeout: requestTimeoutMs }, (req, res) => {
    handle(req, res, options, closing).catch((err: unknown) => {
      options.logger.error({ event: 'http_failed', err }, 'HTTP request failed')
      if (!res.headersSent) reply(res, 500, 'text/plain', 'internal error\n')
      else res.destroy()
    })
  })
  server.maxConnections = connectionsMax
  await listen(server, host, port, options.listen)
  const bound = server.address() as AddressInfo
  const address = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`
  options.logger.info({ event: 'http_listening', addr: address }, 'metrics and health on HTTP')
  return {
    address,
    async close () {
      if (closing) return
      closing = true
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { server.closeAllConnections(); resolve() }, closeTimeoutMs)
        server.close(() => { clearTimeout(timer); resolve() })
        server.closeIdleConnections()
      })
    }
  }
}

async function handle (req: IncomingMessage, res: ServerResponse, options: HttpServerOptions, closing: boolean): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD')
    reply(res, 405, 'text/plain', 'only GET and HEAD\n')
    return
  }
  switch (path) {
    case '/metrics':
      reply(res, 200, 'text/plain; version=0.0.4; charset=utf-8', await options.metrics())
      return
    case '/healthz': {
      const report = options.health()
      reply(res, closing ? 503 : 200, 'application/json', `${JSON.stringify({ status: closing ? 'stopping' : 'ok', ...report })}\n`)
      return
    }
    case '/readyz': {
      const report = options.health()
      const ready = !closing && report.leader !== null
      reply(res, ready ? 200 : 503, 'application/json', `${JSON.stringify({ status: closing ? 'stopping' : ready ? 'ready' : 'no-leader', ...report })}\n`)
      return
    }
    default:
      reply(res, 404, 'text/plain', 'not found: try /metrics, /healthz or /readyz\n')
  }
}

function reply (res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

/** `host:port`, `[v6]:port`; the schema already checked the shape, this checks the range. */
export function parseHostPort (listen: string): { host: string, port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(listen)
  const port = Number(match?.[3])
  if (match === null || !Number.isInteger(port) || port > 65_535) {
    throw new ConfigError(`http.listen ${JSON.stringify(listen)} must be host:port with a port from 0 to 65535, for example 127.0.0.1:9464`, { path: 'http.listen' })
  }
  return { host: match[1] ?? match[2] as string, port }
}

async function listen (server: Server, host: string, port: number, asked: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new ConfigError(`cannot listen on http.listen ${asked}: ${err.code ?? err.message}`, { path: 'http.listen' }, { cause: err }))
    }
    server.once('error', onError)
    server.listen(port, host, () => { server.off('error', onError); resolve() })
  })
}
