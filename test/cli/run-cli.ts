import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { repoRoot } from '../support/spawn.js'

export const bin = join(repoRoot, 'bin/quorumkv.js')

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `quorumkv ...args` as a separate process (as a user would) and collects its output. */
export async function runCli (args: string[], options: { timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  return await collect(child, options.timeoutMs ?? 60_000, args)
}

/** Starts `quorumkv ...args` and leaves it running (for `start`). */
export function spawnCli (args: string[]): ChildProcess {
  return spawn(process.execPath, [bin, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
}

export async function collect (child: ChildProcess, timeoutMs: number, args: string[] = []): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  return await new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`quorumkv ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

/**
 * Runs the same command inside this process (no process start-up: the libp2p modules load once),
 * with its output captured. The exit code is what the `quorumkv` process would exit with.
 */
export async function runInProcess (args: string[]): Promise<CliResult> {
  const { runCli: run } = await import('../../src/cli/program.js')
  let stdout = ''
  let stderr = ''
  const code = await run(args, { out: (t) => { stdout += t }, err: (t) => { stderr += t } })
  return { code, stdout, stderr }
}
