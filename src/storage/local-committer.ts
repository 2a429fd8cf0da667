import { ClosedError, OverloadedError } from '../api/errors.js'
import type { KvCommand, KvOutcome, KvStateMachine } from './kv-state-machine.js'

/**
 * The write path of a node with no peers: it numbers commands itself and applies them through the
 * state machine with a synced batch. Group commit falls out of the loop: while one batch is being
 * fsynced, new commands queue, and the next batch takes them all (up to the limits), so many
 * concurrent callers share one fsync.
 */
export interface CommitLimits {
  writeQueueMax: number
  batchOpsMax: number
  batchBytesMax: number
}

interface Pending {
  command: KvCommand
  bytes: number
  resolve: (outcome: KvOutcome) => void
  reject: (err: unknown) => void
  /** False until the command is taken into a batch; a command still queued can be withdrawn. */
  taken: boolean
}

export class LocalCommitter {
  private readonly sm: KvStateMachine
  private readonly limits: CommitLimits
  private queue: Pending[] = []
  private running = false
  private closed = false
  private idle: Promise<void> = Promise.resolve()

  private readonly onBatch: (size: number) => void

  constructor (sm: KvStateMachine, limits: CommitLimits, hooks: { onBatch?: (size: number) => void } = {}) {
    this.sm = sm
    this.limits = limits
    this.onBatch = hooks.onBatch ?? (() => {})
  }

  /**
   * Queues a command; resolves with its outcome once it is on disk. `signal` withdraws it while it
   * is still queued (it is then never applied); once taken into a batch it runs to completion.
   */
  submit (command: KvCommand, bytes: number, signal?: AbortSignal): Promise<KvOutcome> {
    if (this.closed) return Promise.reject(new ClosedError('the node is stopped: writes are no longer accepted'))
    if (this.queue.length >= this.limits.writeQueueMax) {
      return Promise.reject(new OverloadedError(`the write queue is full (${this.limits.writeQueueMax} writes waiting): back off and retry`, { writeQueueMax: this.limits.writeQueueMax }))
    }
    return new Promise<KvOutcome>((resolve, reject) => {
      const pending: Pending = { command, bytes, resolve, reject, taken: false }
      if (signal !== undefined) {
        const onAbort = (): void => {
          if (pending.taken) return
          this.queue = this.queue.filter(p => p !== pending)
          reject(signal.reason)
        }
        signal.addEventListener('abort', onAbort, { once: true })
        const settle = (): void => { signal.removeEventListener('abort', onAbort) }
        pending.resolve = (outcome) => { settle(); resolve(outcome) }
        pending.reject = (err) => { settle(); reject(err) }
      }
      this.queue.push(pending)
      if (!this.running) this.idle = this.run()
    })
  }

  /** Stops accepting writes and waits for the batch in flight; queued writes are rejected. */
  async close (): Promise<void> {
    this.closed = true
    await this.idle
    const left = this.queue
    this.queue = []
    for (const p of left) p.reject(new ClosedError('the node stopped before this write was applied; it was not written'))
  }

  private async run (): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0 && !this.closed) {
        const batch = this.takeBatch()
        this.onBatch(batch.length)
        let index = this.sm.appliedIndex
        const entries = batch.map(p => ({ index: ++index, command: p.command }))
        try {
          const outcomes = await this.sm.apply(entries, { sync: true })
          batch.forEach((p, i) => { p.resolve(outcomes[i] as KvOutcome) })
        } catch (err) {
          // The engine is fail-stop: nothing queued can be written any more.
          for (const p of batch) p.reject(err)
          const left = this.queue
          this.queue = []
          for (const p of left) p.reject(err)
        }
      }
    } finally {
      this.running = false
    }
  }

  private takeBatch (): Pending[] {
    let bytes = 0
    let n = 0
    while (n < this.queue.length && n < this.limits.batchOpsMax) {
      const next = this.queue[n] as Pending
      if (n > 0 && bytes + next.bytes > this.limits.batchBytesMax) break
      bytes += next.bytes
      next.taken = true
      n++
    }
    return this.queue.splice(0, n)
  }
}
