/** Membership liveness: the SWIM failure detector (core and driver). Anti-entropy lands beside it. */
export { GossipService, type GossipServiceComponents, type GossipServiceInit, type GossipMember, type LivenessListener } from './service.js'
export { SwimCore, type SwimInit } from './swim.js'
export type { Outbound, ProbeResult, LivenessChange, Ready, MemberView } from './outputs.js'
export { parseGossipMessage } from './parse.js'
export { resolveSwimConfig, defaultTuning, type GossipConfig, type SwimConfig, type SwimTuning } from './config.js'
export { suspicionTimeoutMs, retransmitLimit } from './timing.js'
export { GOSSIP_PROTOCOL } from './constants.js'
export type { GossipMessage, Liveness, Update, AliveUpdate, SuspicionUpdate, PingMessage, PingReqMessage, AckMessage, GossipOnlyMessage } from './messages.js'
