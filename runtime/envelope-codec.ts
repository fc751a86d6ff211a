import { addExtension, Packr, Unpackr } from 'msgpackr'
import type { ActorRef, Message } from './actor.ts'
import { ActorRefImpl, type RefRouter } from './actor-ref.ts'
import type { ControlMessage } from './actor-system.ts'
import type { ActorAddress } from './address.ts'

/**
 * What crosses between hosts, as compact tuples (msgpackr encodes arrays cheaper than maps):
 * - mail:    [0, toId, corr (0 = tell), replyNode, replyHost, sender | null, message]
 * - reply:   [1, corr, ok (1 | 0), value or WireError]
 * - control: [2, ControlMessage]
 */
export const enum EnvelopeKind {
  Mail = 0,
  Reply = 1,
  Control = 2,
}

export type MailEnvelope = [EnvelopeKind.Mail, number, number, number, number, ActorRef<Message> | null, Message]
export type ReplyEnvelope = [EnvelopeKind.Reply, number, 0 | 1, unknown]
export type ControlEnvelope = [EnvelopeKind.Control, ControlMessage]
export type Envelope = MailEnvelope | ReplyEnvelope | ControlEnvelope

/**
 * ActorRefs inside messages travel as their address and come back bound to the receiving thread's
 * system. Decoding happens on one thread at a time, so the binding is a module-level variable set
 * around each decode.
 */
let decodingRouter: RefRouter | null = null

addExtension({
  Class: ActorRefImpl,
  type: 0x54,
  write: (ref: ActorRefImpl) => [ref.address.node, ref.address.host, ref.address.id],
  read: ([node, host, id]: [number, number, number]) => {
    const address: ActorAddress = { node, host, id }
    if (decodingRouter === null) throw new Error('an ActorRef was decoded outside a host')
    return new ActorRefImpl(address, decodingRouter)
  },
})

/**
 * One encoder per directed link. `sequential` makes msgpackr send each record structure once per
 * stream and refer to it afterwards, which is valid because a link is a FIFO with one reader.
 */
export function createLinkEncoder(): Packr {
  return new Packr({ sequential: true, useRecords: true })
}

export class LinkDecoder {
  private readonly unpackr = new Unpackr({ sequential: true, useRecords: true, copyBuffers: true })

  constructor(private readonly router: RefRouter) {}

  decode(bytes: Uint8Array): Envelope[] {
    decodingRouter = this.router
    try {
      return this.unpackr.unpack(bytes) as Envelope[]
    } finally {
      decodingRouter = null
    }
  }
}
