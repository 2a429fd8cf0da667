import { describe, expect, it } from 'vitest'
import { createNode } from '../../src/index.js'
import { silentLogger } from '../support/silent-logger.js'
import { exited, onLines, spawnTs } from '../support/spawn.js'
import { tempDir } from '../support/tmp.js'

describe('durability', () => {
  it('keeps every acknowledged write when the process is killed with SIGKILL mid-stream', async () => {
    const dir = await tempDir()
    try {
      const acked = new Map<string, string>()
      const child = spawnTs('test/fixtures/writer.ts', [dir.path, '8', '100000'])
      let stderr = ''
      child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
      const killedAfter = 2_000
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`writer made too little progress: ${acked.size} acks; stderr: ${stderr}`)) }, 45_000)
        onLines(child, line => {
          const [kind, key, etag] = line.split(' ')
          if (kind !== 'ack' || key === undefined || etag === undefined) return
          acked.set(key, etag)
          if (acked.size === killedAfter) {
            // Killed while writers are mid-flight: some writes are queued or being fsynced.
            child.kill('SIGKILL')
            clearTimeout(timer)
            resolve()
          }
        })
      })
      await done
      const { signal } = await exited(child)
      expect(signal).toBe('SIGKILL')

      const node = await createNode({ schemaVersion: 1, dataDir: dir.path }, { logger: silentLogger })
      try {
        const kv = node.client()
        const missing: string[] = []
        for (const [key, etag] of acked) {
          const entry = await kv.get<{ w: number, i: number }>(key)
          if (entry === undefined || entry.etag !== etag) missing.push(key)
        }
        expect(missing).toEqual([])
        expect(acked.size).toBeGreaterThanOrEqual(killedAfter)
      } finally {
        await node.stop()
      }
    } finally {
      await dir.cleanup()
    }
  })
})
