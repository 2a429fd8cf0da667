import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isNodeProcess, parseClusterFile, type ClusterFile } from '../../cluster/local.js'
import { consistencyLevels } from '../../src/index.js'
import { exited } from '../support/spawn.js'
import { tempDir } from '../support/tmp.js'
import { runCli, runInProcess as cli, spawnCli } from './run-cli.js'

/**
 * The CLI end to end, as an operator uses it: separate processes for the CLI and for every node,
 * talking over libp2p on 127.0.0.1 (free ports, a temporary directory).
 */
describe('the quorumkv command against a local cluster of node processes', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>
  let dir: string
  let cluster: ClusterFile
  let target: string[]
  let down = false

  beforeAll(async () => {
    tmp = await tempDir('quorumkv-cli-')
    dir = join(tmp.path, 'cluster')
    target = ['--dir', dir]
    const up = await runCli(['cluster', 'up', '--detach', '--nodes', '3', '--dir', dir, '--base-port', '0', '--log-level', 'warn'], { timeoutMs: 90_000 })
    expect(up.code, up.stderr).toBe(0)
    cluster = parseClusterFile(await readFile(join(dir, 'cluster.json'), 'utf8'))
  })

  afterAll(async () => {
    if (!down) await runCli(['cluster', 'down', ...target])
    // Whatever happened above, no node process of this test outlives it.
    for (const m of cluster?.members ?? []) {
      if (m.pid !== null && await isNodeProcess(m.pid, join(dir, `${m.name}.json`))) process.kill(m.pid, 'SIGKILL')
    }
    await tmp.cleanup()
  })

  it('cluster up --detach returns with every node running and recorded in cluster.json', async () => {
    expect(cluster.members.map(m => m.name)).toEqual(['node1', 'node2', 'node3'])
    for (const m of cluster.members) {
      expect(m.pid).not.toBeNull()
      expect(await isNodeProcess(m.pid as number, join(dir, `${m.name}.json`))).toBe(true)
      expect(m.multiaddrs[0]).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${m.peerId}$`))
      expect(m.httpAddr).toMatch(/^127\.0\.0\.1:\d+$/)
      const health = await fetch(`http://${m.httpAddr as string}/healthz`)
      expect(health.status).toBe(200)
      expect(await health.json()).toMatchObject({ status: 'ok', peerId: m.peerId })
      expect(await (await fetch(`http://${m.httpAddr as string}/metrics`)).text()).toContain('quorumkv_raft_term')
    }
  })

  it('writes with put and reads the value back at every consistency level', async () => {
    const put = await cli(['put', 'agents/42', '{"name":"scout","n":1}', '--json', ...target])
    expect(put.code, put.stderr).toBe(0)
    const written = JSON.parse(put.stdout) as { key: string, version: string, etag: string, session: string }
    expect(written).toMatchObject({ key: 'agents/42' })

    const readAt = async (level: string): Promise<unknown> => {
      const flags = level === 'bounded' ? ['--max-staleness-ms', '60000'] : []
      // The session of the write makes read-your-writes and causal reads wait for it; strong reads
      // see it anyway. Eventual and bounded reads may be stale for a moment: retried, bounded.
      const session = level === 'read-your-writes' || level === 'causal' ? ['--session', written.session] : []
      for (let attempt = 0; attempt < 10; attempt++) {
        const got = await cli(['get', 'agents/42', '--consistency', level, ...flags, ...session, '--json', ...target])
        expect([0, 3], got.stderr).toContain(got.code)
        const entry = JSON.parse(got.stdout) as { value: unknown, version: string } | null
        if (entry?.version === written.version) return entry.value
        expect(level === 'eventual' || level === 'bounded').toBe(true)
      }
      throw new Error(`a ${level} read never returned the write`)
    }
    const values = await Promise.all(consistencyLevels.map(readAt))
    for (const v of values) expect(v).toEqual({ name: 'scout', n: 1 })

    const text = await cli(['put', 'greeting', 'hello there', ...target])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^ok greeting version \S+ etag \S+\n$/)
    const got = await cli(['get', 'greeting', '--consistency', 'strong', '--debug', ...target])
    expect(got.stdout).toBe('hello there\n')
    expect(got.stderr).toMatch(/debug: get greeting served by node[123] \(12D3KooW\w+\) after 1 attempt/)

    const del = await cli(['del', 'greeting', ...target])
    expect(del.code, del.stderr).toBe(0)
    const gone = await cli(['get', 'greeting', '--consistency', 'strong', ...target])
    expect(gone.code).toBe(3)
    expect(gone.stdout).toBe('')
    expect(gone.stderr).toContain('not found: greeting')
  })

  it('status --json names the leader, the term and every member with role, liveness and applied index', async () => {
    const res = await cli(['status', '--json', ...target])
    expect(res.code, res.stderr).toBe(0)
    const status = JSON.parse(res.stdout) as { leader: string, term: number, members: Array<{ peerId: string, role: string, alive: boolean, appliedIndex: number }> }
    const ids = cluster.members.map(m => m.peerId)
    expect(ids).toContain(status.leader)
    expect(status.term).toBeGreaterThanOrEqual(1)
    expect(status.members.map(m => m.peerId).sort()).toEqual([...ids].sort())
    for (const m of status.members) {
      expect(m).toMatchObject({ alive: true })
      expect(['leader', 'follower']).toContain(m.role)
      expect(m.appliedIndex).toBeGreaterThanOrEqual(1)
    }
    expect(status.members.filter(m => m.role === 'leader').map(m => m.peerId)).toEqual([status.leader])

    const text = await cli(['status', ...target])
    expect(text.stdout).toMatch(/^leader: node[123] \(12D3KooW\w+\)\s+term: \d+\n/)
  })

  it('member list shows the three voters', async () => {
    const res = await cli(['member', 'list', '--json', ...target])
    expect(res.code, res.stderr).toBe(0)
    const { members } = JSON.parse(res.stdout) as { members: Array<{ peerId: string, role: string, name: string }> }
    expect(members.map(m => [m.name, m.role]).sort()).toEqual([['node1', 'voter'], ['node2', 'voter'], ['node3', 'voter']])
  })

  it('refuses a client whose identity the cluster does not allow, for data and for status', async () => {
    const init = await cli(['init', '--data-dir', join(tmp.path, 'stranger')])
    expect(init.code, init.stderr).toBe(0)
    expect(init.stdout).toMatch(/^12D3KooW\w+\n$/)
    const stranger = ['--identity', join(tmp.path, 'stranger', 'identity.key')]
    const [get, put, status] = await Promise.all([
      runCli(['get', 'agents/42', ...stranger, ...target]),
      cli(['put', 'agents/42', '1', ...stranger, ...target]),
      cli(['status', ...stranger, ...target])
    ])
    for (const res of [get, put, status]) {
      expect(res.code).toBe(1)
      expect(res.stderr).toMatch(/^error UNAUTHORIZED: /)
      expect(res.stderr).not.toMatch(/\n\s+at /) // no stack trace without --debug
    }
    expect(get.stdout).toBe('')
  })

  it('answers bad arguments with a clear message and exit code 2, before touching the cluster', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['put', 'k'], /missing required argument 'value'/],
      [['get', 'k', '--consistency', 'sometimes', ...target], /--consistency must be one of strong, bounded, read-your-writes, causal, eventual/],
      [['get', 'k', '--consistency', 'bounded', ...target], /--consistency bounded needs --max-staleness-ms/],
      [['get', 'k', '--bogus', ...target], /unknown option '--bogus'/],
      [['cluster', 'up', '--nodes', 'zero', '--dir', join(tmp.path, 'never')], /--nodes must be an integer from 1 to 16/],
      [['get', 'k', '--peers', '/ip4/127.0.0.1/tcp/1', '--identity', 'x'], /--peers: "\/ip4\/127.0.0.1\/tcp\/1" is not a multiaddr ending in \/p2p\/<peerId>/],
      [['get', 'k', '--dir', join(tmp.path, 'nowhere')], /no cluster found: .*cluster\.json does not exist/],
      [['member', 'remove', 'not-a-peer-id!', ...target], /"not-a-peer-id!" is not a peer id/],
      [['member', 'add', '12D3KooWQTAmekLhUmKpGY5UjBjywuPdxJFzhPvX2bP143UH4Qzb', ...target], /required option '--addr <multiaddr>' not specified/],
      [['status', '--timeout-ms', 'soon', ...target], /--timeout-ms must be an integer/],
      [['start'], /start needs --config FILE or --data-dir DIR/]
    ]
    // A few through the real command (main.ts's exit path), the rest in this process.
    const results = await Promise.all(cases.map(async ([args], i) => i < 3 ? await runCli(args) : await cli(args)))
    results.forEach((res, i) => {
      const [args, message] = cases[i] as [string[], RegExp]
      expect(res.code, `quorumkv ${args.join(' ')}: ${res.stderr}`).toBe(2)
      expect(res.stderr).toMatch(message)
      expect(res.stderr).not.toMatch(/\n\s+at /)
    })
  })

  it('adds a node started with quorumkv start --join as a learner, promotes it, removes it, and stops it on SIGTERM', async () => {
    const init = await cli(['init', '--data-dir', join(tmp.path, 'node4'), '--name', 'node4'])
    const peerId = init.stdout.trim()
    const clientPeer = await clientPeerId(cluster.clientKey)
    const node4 = spawnCli(['start', '--data-dir', join(tmp.path, 'node4'), '--name', 'node4', '--listen', '/ip4/127.0.0.1/tcp/0', '--log-format', 'json', '--log-level', 'info',
      '--allow-client', clientPeer, ...cluster.members.flatMap(m => ['--join', m.multiaddrs[0] as string])])
    try {
      const addr = await startedAt(node4)
      expect(addr).toMatch(new RegExp(`/p2p/${peerId}$`))
      const add = await cli(['member', 'add', peerId, '--addr', addr, ...target])
      expect(add.code, add.stderr).toBe(0)
      expect(add.stdout).toContain(`${peerId} added`)
      const promote = await cli(['member', 'promote', peerId, ...target])
      expect(promote.code, promote.stderr).toBe(0)
      const listed = JSON.parse((await cli(['member', 'list', '--json', ...target])).stdout) as { members: Array<{ peerId: string, role: string }> }
      expect(listed.members.find(m => m.peerId === peerId)?.role).toBe('voter')
      // Writes commit with four voters, and the new one serves reads of them.
      expect((await cli(['put', 'after-join', '1', ...target])).code).toBe(0)
      const peers = ['--peers', addr]
      const read = await cli(['get', 'after-join', '--consistency', 'strong', ...peers, '--identity', cluster.clientKey])
      expect(read.stdout).toBe('1\n')
      const remove = await cli(['member', 'remove', peerId, ...target])
      expect(remove.code, remove.stderr).toBe(0)
      const after = JSON.parse((await cli(['member', 'list', '--json', ...target])).stdout) as { members: Array<{ peerId: string }> }
      expect(after.members.map(m => m.peerId)).not.toContain(peerId)
    } finally {
      node4.kill('SIGTERM')
    }
    expect(await exited(node4)).toEqual({ code: 0, signal: null })
  })

  it('cluster down stops the recorded node processes, and no other process', async () => {
    // A process that is not a node, recorded under a node's name: down must leave it alone.
    const bystander = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
    const file = parseClusterFile(await readFile(join(dir, 'cluster.json'), 'utf8'))
    const recorded = { ...file, members: [...file.members, { ...(file.members[0] as ClusterFile['members'][number]), name: 'node9', pid: bystander.pid as number }] }
    await writeFile(join(dir, 'cluster.json'), JSON.stringify(recorded))
    try {
      const res = await runCli(['cluster', 'down', ...target])
      down = true
      expect(res.code, res.stderr).toBe(0)
      expect(res.stdout).toMatch(/node1 stopped \(pid \d+\)/)
      expect(res.stdout).toContain('node9 was not running')
      for (const m of cluster.members) expect(await isNodeProcess(m.pid as number, join(dir, `${m.name}.json`))).toBe(false)
      expect(bystander.exitCode).toBeNull()
      expect(() => process.kill(bystander.pid as number, 0)).not.toThrow()
      const status = await cli(['cluster', 'status', '--json', ...target])
      expect((JSON.parse(status.stdout) as { members: Array<{ running: boolean }> }).members.every(m => !m.running)).toBe(true)
    } finally {
      bystander.kill('SIGKILL')
    }
  })
})

async function clientPeerId (keyFile: string): Promise<string> {
  const { loadIdentity } = await import('../../src/transport/libp2p/identity.js')
  return (await loadIdentity(keyFile)).peerId
}

/** The address `quorumkv start` listens on, from its node_started log line. */
async function startedAt (child: ChildProcess): Promise<string> {
  if (child.stdout === null) throw new Error('no stdout')
  const lines = createInterface({ input: child.stdout })
  const timeoutMs = 30_000
  return await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('quorumkv start did not log node_started')) }, timeoutMs)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`quorumkv start exited with ${String(code)}`)) })
    lines.on('line', (line) => {
      let entry: { event?: string, multiaddrs?: string[] }
      try { entry = JSON.parse(line) as typeof entry } catch { return }
      if (entry.event === 'node_started' && entry.multiaddrs?.[0] !== undefined) {
        clearTimeout(timer)
        resolve(entry.multiaddrs[0])
      }
    })
  })
}

describe('quorumkv cluster up when a node cannot start', () => {
  it('says why, exits 1, and leaves no node process behind', async () => {
    const tmp = await tempDir('quorumkv-cli-busy-')
    const busy = createServer()
    await new Promise<void>(resolve => { busy.listen(0, '127.0.0.1', resolve) })
    const port = (busy.address() as AddressInfo).port
    try {
      const dir = join(tmp.path, 'cluster')
      const res = await cli(['cluster', 'up', '--detach', '--nodes', '1', '--dir', dir, '--base-port', String(port)])
      expect(res.code).toBe(1)
      expect(res.stderr).toMatch(/error: node1 exited during start \(code 1, signal null\): .*EADDRINUSE.*; see .*node1\.log/)
      const file = parseClusterFile(await readFile(join(dir, 'cluster.json'), 'utf8'))
      expect(file.members.map(m => m.pid)).toEqual([null])
    } finally {
      busy.close()
      await tmp.cleanup()
    }
  })
})
