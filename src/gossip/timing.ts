/**
 * How SWIM's two size-dependent bounds grow with the cluster. Both scale with log(N): the rounds an
 * infection-style broadcast needs to reach every member grow with log(N), so waiting (suspicion)
 * and repeating (retransmission) longer than that buys little, and shorter risks missing members.
 */

/** Suspicion lasts suspicionMultiplier * log10(N + 1) * probeIntervalMs (the documented config rule). */
export function suspicionTimeoutMs (suspicionMultiplier: number, memberCount: number, probeIntervalMs: number): number {
  return Math.max(1, Math.round(suspicionMultiplier * Math.log10(memberCount + 1) * probeIntervalMs))
}

/** How many times one node piggybacks an update: multiplier * ceil(log10(N + 1)), at least 1. */
export function retransmitLimit (multiplier: number, memberCount: number): number {
  return Math.max(1, multiplier * Math.ceil(Math.log10(memberCount + 1)))
}
