import { readFile } from 'node:fs/promises'

const ticksPerSecond = 100 // Linux USER_HZ

/** User + system CPU milliseconds used so far by the given processes (Linux /proc). */
export async function cpuMsOf (pids: number[]): Promise<number> {
  let total = 0
  for (const pid of pids) {
    if (pid <= 0) continue
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      total += (Number(fields[11]) + Number(fields[12])) * 1000 / ticksPerSecond
    } catch { /* the process exited */ }
  }
  return total
}
