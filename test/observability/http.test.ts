import { afterEach, describe, expect, it } from 'vitest'
import { startHttpServer, parseHostPort, type HttpEndpoint } from '../../src/observability/http.js'
import { silentLogger } from '../support/silent-logger.js'

describe('the node\'s HTTP endpoint', () => {
  let endpoint: HttpEndpoint | undefined
  let leader: string | null = 'P'
  afterEach(async () => { await endpoint?.close(); endpoint = undefined })

  async function start (): Promise<string> {
    endpoint = await startHttpServer({
      listen: '127.0.0.1:0',
      logger: silentLogger,
      metrics: async () => 'quorumkv_requests_total 1\n',
      health: () => ({ peerId: 'P', leader, appliedIndex: 7 })
    })
    return `http://${endpoint.address}`
  }

  it('serves Prometheus metrics, health and readiness on 127.0.0.1', async () => {
    const base = await start()
    expect(endpoint?.address).toMatch(/^127\.0\.0\.1:\d+$/)
    const metrics = await fetch(`${base}/metrics`)
    expect(metrics.status).toBe(200)
    expect(metrics.headers.get('content-type')).toContain('text/plain')
    expect(await metrics.text()).toBe('quorumkv_requests_total 1\n')
    const health = await fetch(`${base}/healthz`)
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ status: 'ok', peerId: 'P', leader: 'P', appliedIndex: 7 })
    expect((await fetch(`${base}/readyz`)).status).toBe(200)
  })

  it('is not ready while no leader is known, though healthy', async () => {
    leader = null
    const base = await start()
    expect((await fetch(`${base}/healthz`)).status).toBe(200)
    const ready = await fetch(`${base}/readyz`)
    expect(ready.status).toBe(503)
    expect(await ready.json()).toMatchObject({ status: 'no-leader' })
    leader = 'P'
  })

  it('answers other paths with 404 and other methods with 405', async () => {
    const base = await start()
    expect((await fetch(`${base}/data/agents/1`)).status).toBe(404)
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
  })

  it('fails with a ConfigError naming http.listen when the port is taken', async () => {
    await start()
    await expect(startHttpServer({ listen: endpoint?.address as string, logger: silentLogger, metrics: async () => '', health: () => ({ peerId: 'P', leader: null, appliedIndex: 0 }) }))
      .rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('cannot listen on http.listen') })
  })

  it('parses host:port, [v6]:port, and refuses ports past 65535', () => {
    expect(parseHostPort('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 })
    expect(parseHostPort('[::1]:80')).toEqual({ host: '::1', port: 80 })
    expect(() => parseHostPort('127.0.0.1:70000')).toThrow(/port from 0 to 65535/)
  })
})
