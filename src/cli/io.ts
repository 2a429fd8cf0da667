/**
 * Where a command writes: results to `out` (what scripts read), everything for a human to `err`.
 * The process's stdout and stderr in the `quorumkv` command; buffers in tests that run commands
 * in-process.
 */
export interface CliIo {
  out: (text: string) => void
  err: (text: string) => void
}

export const processIo: CliIo = {
  out: (text) => { process.stdout.write(text) },
  err: (text) => { process.stderr.write(text) }
}
