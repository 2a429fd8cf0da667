/**
 * Lifeguard's local health multiplier (memberlist's "awareness"). A node that is itself slow or
 * cut off sees its probes fail and would accuse healthy members; when the evidence says the
 * problem is probably local, it stretches its own probe period instead and so accuses less. The
 * score rises on a failed probe that got no nack from its helpers and on every refutation this
 * node has to make, and falls on each successful probe.
 */
export class LocalHealth {
  private value = 0

  /** `max` multiplier (score in [0, max - 1]); 1 turns the mechanism off. */
  constructor (private readonly max: number) {
    if (!(Number.isInteger(max) && max >= 1)) throw new RangeError('the local health maximum is an integer >= 1')
  }

  get score (): number {
    return this.value
  }

  apply (delta: number): void {
    this.value = Math.min(this.max - 1, Math.max(0, this.value + delta))
  }

  /** `ms` stretched by the current health: ms * (score + 1). */
  scale (ms: number): number {
    return ms * (this.value + 1)
  }
}
