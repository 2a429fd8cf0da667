import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
export const registerModule = fileURLToPath(new URL('../../src/runtime/register.js', import.meta.url))

/** Starts a TypeScript file as a separate Node process (polyfill + tsx loader). */
export function spawnTs (file: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  return spawn(process.execPath, ['--import', registerModule, file, ...args], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env }
  })
}

/** Calls `onLine` for each stdout line of the child. */
export function onLines (child: ChildProcess, onLine: (line: string) => void): void {
  if (child.stdout === null) throw new Error('child has no stdout pipe')
  createInterface({ input: child.stdout }).on('line', onLine)
}

export async function exited (child: ChildProcess): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode }
  return await new Promise(resolve => { child.once('exit', (code, signal) => { resolve({ code, signal }) }) })
}
