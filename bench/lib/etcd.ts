import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePorts } from '../../cluster/ports.js'

/**
 * A 3-member etcd cluster on 127.0.0.1 with default settings, from Debian's `etcd-server`
 * package (`apt-get install etcd-server`). Used only by benchmarks, as the reference system.
 */
export interface EtcdCluster {
  endpoints: string[]
  pids: number[]
  stop: () => Promise<void>
}

export const etcdBinary = '/usr/bin/etcd'

export async function startEtcd (members = 3): Promise<EtcdCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'quorumkv-etcd-'))
  const ports = await freePorts(members * 2)
  const names = Array.from({ length: members }, (_, i) => `etcd${i + 1}`)
  const peerUrl = (i: number): string => `http://127.0.0.1:${ports[members + i] as number}`
  const clientUrl = (i: number): string => `http://127.0.0.1:${ports[i] as number}`
  const initialCluster = names.map((n, i) => `${n}=${peerUrl(i)}`).join(',')
  const children: ChildProcess[] = names.map((name, i) => spawn(etcdBinary, [
    '--name', name,
    '--data-dir', join(dir, name),
    '--listen-client-urls', clientUrl(i),
    '--advertise-client-urls', clientUrl(i),
    '--listen-peer-urls', peerUrl(i),
    '--initial-advertise-peer-urls', peerUrl(i),
    '--initial-cluster', initialCluster,
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', 'quorumkv-bench'
  ], { stdio: ['ignore', 'ignore', 'ignore'] }))
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(async c => {
      if (c.exitCode !== null || c.signalCode !== null) return
      const exited = new Promise(res => c.once('exit', res))
      c.kill('SIGTERM')
      await exited
    }))
    await rm(dir, { recursive: true, force: true })
  }
  const endpoints = names.map((_, i) => clientUrl(i))
  const deadline = Date.now() + 30_000
  for (const url of endpoints) {
    while (true) {
      try {
        const res = await fetch(`${url}/health`)
        const body = await res.json() as { health?: string }
        if (body.health === 'true') break
      } catch { /* not up yet */ }
      if (Date.now() > deadline) { await stop(); throw new Error(`etcd at ${url} did not become healthy`) }
      await new Promise(res => setTimeout(res, 200))
    }
  }
  return { endpoints, pids: children.map(c => c.pid ?? -1), stop }
}
