import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkLinearizable } from '../../chaos/checkers/linearizable.js'
import { HistoryRecorder } from '../../chaos/history.js'
import { LocalCluster } from '../../cluster/local.js'
import { connect, type Client } from '../../src/index.js'
import { tempDir } from '../support/tmp.js'

/**
 * A 3-node cluster of real processes on 127.0.0.1 under load; the leader is killed with SIGKILL
 * and restarted. Every acknowledged write must survive, a new leader must serve, and the recorded
 * history of strong reads and writes must be linearizable.
 */
describe('a 3-node raft cluster whose leader is killed', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let cluster: LocalCluster
  let kv: Client
  let leader: string | null = null

  beforeAll(async () => {
    dir = await tempDir()
    cluster = await LocalCluster.start({
      nodes: 3,
      dir: dir.path,
      logLevel: 'info',
      configOverrides: { raft: { electionTimeoutMs: 500, heartbeatIntervalMs: 50 } },
      logs: (name, line) => {
        if (!line.includes('"raft_leader"')) return
        const event = JSON.parse(line) as { role: string }
        if (event.role === 'leader') leader = name
        else if (leader === name) leader = null
      }
    })
    kv = await connect({ peers: cluster.peers, identity: cluster.clientKey, requestTimeoutMs: 4000 })
  })

  afterAll(async () => {
    await kv?.close()
    await cluster?.stopAll()
    await dir?.cleanup()
  })

  it('keeps acknowledged writes, elects a new leader and stays linearizable', async () => {
    const history = new HistoryRecorder()
    const acked = new Map<string, string>()
    const keys = ['r/a', 'r/b', 'r/c', 'r/d']
    const start = Date.now()
    const now = (): number => Date.now() - start
    const runForMs = 5_000
    let seq = 0
    let killedAt = -1
    let firstWriteAfterKill = -1

    const processes = Array.from({ length: 8 }, async (_, p) => {
      // Runs until 3.5 s after the kill (and at least runForMs), never past 60 s.
      for (let n = 0; n < 100_000 && now() < 60_000 && (now() < runForMs || killedAt < 0 || now() < killedAt + 3_500); n++) {
        const key = keys[(p + n) % keys.length] as string
        if (n % 3 === 2) {
          const op = history.invoke(p, 'read', key, null, now())
          try {
            const e = await kv.get<string>(key, { consistency: 'strong' })
            op.ok(e?.value ?? null, now())
          } catch {
            op.fail(now())
          }
        } else {
          const value = `p${p}-${++seq}`
          const op = history.invoke(p, 'write', key, value, now())
          try {
            await kv.put(key, value)
            op.ok(value, now())
            // The same value under a key of its own: each must be readable at the end.
            await kv.put(`acked/${value}`, value)
            acked.set(`acked/${value}`, value)
            if (killedAt >= 0 && firstWriteAfterKill < 0) firstWriteAfterKill = now()
          } catch {
            op.info(now()) // unknown outcome: may or may not have been applied
          }
        }
      }
    })

    const chaos = (async () => {
      await new Promise(resolve => setTimeout(resolve, 1_500))
      // On a loaded machine the first election may take longer: wait for a leader (bounded).
      for (let i = 0; i < 150 && leader === null; i++) await new Promise(resolve => setTimeout(resolve, 100))
      const victim = leader
      expect(victim).not.toBeNull()
      killedAt = now()
      await cluster.kill(victim as string, 'SIGKILL')
      await new Promise(resolve => setTimeout(resolve, 1_500))
      await cluster.startMember(victim as string)
    })()

    await Promise.all([...processes, chaos])
    expect(killedAt).toBeGreaterThan(0)
    expect(firstWriteAfterKill).toBeGreaterThan(killedAt)
    console.log(`leader killed at ${killedAt} ms; first acknowledged write after it at ${firstWriteAfterKill} ms (${firstWriteAfterKill - killedAt} ms later); ${acked.size} acknowledged unique writes`)

    const missing: string[] = []
    for (const [key, value] of acked) {
      const e = await kv.get<string>(key, { consistency: 'strong' })
      if (e?.value !== value) missing.push(key)
    }
    expect(missing).toEqual([])

    const result = checkLinearizable(history.events(), { timeMaxMs: 20_000 })
    if (result.valid !== true) {
      const file = join(tmpdir(), `quorumkv-raft-leader-kill-${Date.now()}.jsonl`)
      await writeFile(file, history.toJsonLines())
      console.log(`history written to ${file}; first anomaly: ${JSON.stringify(result.anomalies[0]).slice(0, 2000)}`)
    }
    expect(result.valid).toBe(true)
    expect(result.opsChecked).toBeGreaterThan(100)
  })
})
