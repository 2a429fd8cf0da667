/**
 * Randomness is injected: cores take a Random, the simulator gives them a seeded one so that a
 * failing seed replays exactly.
 */
export interface Random {
  /** A float in [0, 1). */
  next: () => number
}

/** sfc32 seeded through splitmix32: fast, 128 bits of state, good enough for schedules and jitter. */
export function seededRandom (seed: number): Random {
  let s = seed >>> 0
  const split = (): number => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = split()
  let b = split()
  let c = split()
  let d = split()
  return {
    next () {
      const t = (((a + b) >>> 0) + d) >>> 0
      d = (d + 1) >>> 0
      a = b ^ (b >>> 9)
      b = (c + (c << 3)) >>> 0
      c = ((c << 21) | (c >>> 11)) >>> 0
      c = (c + t) >>> 0
      return t / 4294967296
    }
  }
}

export const systemRandom: Random = Object.freeze({ next: () => Math.random() })

/** An integer in [0, n). */
export function randomInt (random: Random, n: number): number {
  return Math.floor(random.next() * n)
}
