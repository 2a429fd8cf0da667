import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A fresh directory under the OS temp dir; `cleanup` removes it. */
export async function tempDir (prefix = 'quorumkv-test-'): Promise<{ path: string, cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, cleanup: async () => { await rm(path, { recursive: true, force: true }) } }
}

/** Runs `fn` with a fresh temp directory, removed afterwards whatever `fn` did. */
export async function inTempDir<T> (fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await tempDir()
  try {
    return await fn(dir.path)
  } finally {
    await dir.cleanup()
  }
}
