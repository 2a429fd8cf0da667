import { randomInt, type Random } from '../runtime/random.js'

/**
 * Up to `k` distinct items of `pool`, uniformly at random (a partial Fisher-Yates shuffle, so it
 * draws exactly min(k, n) numbers). Reorders `pool` in place and returns a prefix copy.
 */
export function sample<T> (random: Random, pool: T[], k: number): T[] {
  const n = Math.min(Math.max(0, k), pool.length)
  for (let i = 0; i < n; i++) {
    const j = i + randomInt(random, pool.length - i)
    const t = pool[i] as T
    pool[i] = pool[j] as T
    pool[j] = t
  }
  return pool.slice(0, n)
}
