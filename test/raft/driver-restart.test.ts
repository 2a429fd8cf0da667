import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { decode, encode } from '../../src/codec/msgpack.js'
import type { HardState } from '../../src/raft/core/index.js'
import { DriverCluster, installDriverClock } from './sim-driver.js'

/**
 * The commit index is written unsynced, in the batch that applies the entries it commits; a crash
 * can still leave an older copy on disk than the applied index beside it (docs/raft.md, "What is
 * persisted when"). Opening the node takes the applied index as a commit index then.
 */
describe('a raft node restarted with a stored commit index behind its applied index', () => {
  let uninstall: () => void
  let cluster: DriverCluster | undefined

  beforeAll(() => { uninstall = installDriverClock() })
  afterAll(() => { uninstall() })
  afterEach(async () => { await cluster?.stop(); cluster = undefined })

  it('opens, counts its applied entries as committed, and keeps serving', async () => {
    const c = new DriverCluster({ raft: { readMode: 'read-index' } })
    cluster = c
    await c.start()
    const leader = await c.settleLeader()
    for (let i = 0; i < 5; i++) await c.put(leader, `k${i}`, i)
    const follower = c.ids.find(id => id !== leader) as string
    expect(await c.strongRead(follower, 'k4')).toBe(4)
    const applied = c.node(follower).appliedIndex

    c.crash(follower)
    const engine = c.engines.get(follower)
    if (engine === undefined) throw new Error('no engine')
    const hard = decode(await engine.get('raft-state', 'hard') as Uint8Array) as HardState
    await engine.write([{ type: 'put', sublevel: 'raft-state', key: 'hard', value: encode({ ...hard, commit: 0 }) }])
    c.net.restart(follower)
    const node = await c.boot(follower)
    expect(node.status().commit).toBeGreaterThanOrEqual(applied)
    await c.put(leader, 'k5', 5)
    expect(await c.strongRead(follower, 'k5')).toBe(5)
  })
})
