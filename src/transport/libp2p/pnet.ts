import { generateKey } from '@libp2p/pnet'

/** Bytes of a pnet swarm key file: "/key/swarm/psk/1.0.0/\n/base16/\n" and 64 hex digits. */
const swarmKeyBytes = 95

/**
 * A new pre-shared key for `privateNetworkKey`, in the swarm key file format every libp2p
 * implementation reads. Every member of the private network needs the same bytes; keep them as
 * secret as the identity files (mode 0600). See docs/security.md before turning pnet on.
 */
export function generatePrivateNetworkKey (): Uint8Array {
  const key = new Uint8Array(swarmKeyBytes)
  generateKey(key)
  return key
}
