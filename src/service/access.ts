import { UnauthorizedError } from '../api/errors.js'
import type { Config } from '../config/schema.js'

/**
 * Who may do what through the client protocol. Rights come from `access.clients` in the config:
 * each grant names a peer id, `read` or `read-write`, and a key prefix. Cluster members may do
 * everything (they forward calls for their own clients).
 */
export type Right = 'read' | 'write'

export class AccessControl {
  private readonly grants = new Map<string, Array<{ prefix: string, write: boolean }>>()
  private readonly members = new Set<string>()

  constructor (config: Pick<Config, 'access' | 'cluster'>) {
    for (const grant of config.access.clients) {
      const list = this.grants.get(grant.peerId) ?? []
      list.push({ prefix: grant.prefix, write: grant.rights === 'read-write' })
      this.grants.set(grant.peerId, list)
    }
    for (const m of config.cluster.members) this.members.add(m.peerId)
  }

  /** Whether a peer may open a connection at all: a member or a client with any grant. */
  mayConnect (peerId: string): boolean {
    return this.members.has(peerId) || this.grants.has(peerId)
  }

  addMember (peerId: string): void {
    this.members.add(peerId)
  }

  removeMember (peerId: string): void {
    this.members.delete(peerId)
  }

  /** Throws UnauthorizedError unless `peerId` holds `right` on `key`. */
  check (peerId: string, right: Right, key: string): void {
    if (this.members.has(peerId)) return
    const grants = this.grants.get(peerId)
    if (grants === undefined) {
      throw new UnauthorizedError(`peer ${peerId} is not an allowed client: an operator must add it to access.clients`, { peer: peerId })
    }
    const ok = grants.some(g => key.startsWith(g.prefix) && (right === 'read' || g.write))
    if (!ok) {
      throw new UnauthorizedError(`peer ${peerId} may not ${right} ${key}: its grants in access.clients do not cover this key`, { peer: peerId, right, key })
    }
  }
}
