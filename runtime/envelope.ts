import type { ActorRef, Message } from './actor.ts'
import type { ActorAddress } from './address.ts'
import type { ControlMessage } from './actor-system.ts'
import type { MailItem, ReplyTarget } from './mail.ts'
import type { WireReader, WireWriter } from './wire-codec.ts'

/**
 * The envelopes that carry actor traffic between hosts and nodes. Every envelope is `[u8 kind]`
 * followed by its fields:
 * - Tell:       u32 to, value message
 * - TellFrom:   u32 to, sender (u16 node, u16 host, u32 id, u32 incarnation), value message
 * - Ask:        u32 to, u32 corr, u16 replyNode, u16 replyHost, u32 replyIncarnation, value message
 * - AskFrom:    as Ask, then sender, then value message
 * - ReplyOk/ReplyError: u32 corr, value
 * - Control:    value (a ControlMessage)
 * - Routed:     u16 node, u16 host, u32 incarnation, then one envelope for that host (a worker
 *               host's traffic to another node, handed to host 0, which owns the network transport)
 * The target's incarnation is not in the envelope: inside a node the sender checks it (one
 * process, one incarnation); between nodes the network route prefixes it (see network-route.ts).
 */
export const enum Kind {
  Tell = 0,
  TellFrom = 1,
  Ask = 2,
  AskFrom = 3,
  ReplyOk = 4,
  ReplyError = 5,
  Control = 6,
  Routed = 7,
}

export type Envelope =
  | { readonly kind: 'mail'; readonly to: number; readonly item: MailItem }
  | { readonly kind: 'reply'; readonly corr: number; readonly ok: boolean; readonly value: unknown }
  | { readonly kind: 'control'; readonly control: ControlMessage }

export function writeMailHeader(writer: WireWriter, to: number, replyTo: ReplyTarget | null, sender: ActorRef<Message> | null): void {
  if (replyTo === null) {
    writer.u8(sender === null ? Kind.Tell : Kind.TellFrom)
    writer.u32(to)
  } else {
    writer.u8(sender === null ? Kind.Ask : Kind.AskFrom)
    writer.u32(to)
    writer.u32(replyTo.corr)
    writer.u16(replyTo.node)
    writer.u16(replyTo.host)
    writer.u32(replyTo.incarnation)
  }
  if (sender !== null) {
    writer.u16(sender.address.node)
    writer.u16(sender.address.host)
    writer.u32(sender.address.id)
    writer.u32(sender.address.incarnation)
  }
}

export function writeReplyHeader(writer: WireWriter, corr: number, ok: boolean): void {
  writer.u8(ok ? Kind.ReplyOk : Kind.ReplyError)
  writer.u32(corr)
}

export function writeRoutedHeader(writer: WireWriter, node: number, host: number, incarnation: number): void {
  writer.u8(Kind.Routed)
  writer.u16(node)
  writer.u16(host)
  writer.u32(incarnation)
}

/** Writes a whole envelope (header and value). */
export function writeEnvelope(writer: WireWriter, envelope: Envelope): void {
  switch (envelope.kind) {
    case 'mail':
      writeMailHeader(writer, envelope.to, envelope.item.replyTo, envelope.item.sender)
      writer.value(envelope.item.message)
      return
    case 'reply':
      writeReplyHeader(writer, envelope.corr, envelope.ok)
      writer.value(envelope.value)
      return
    case 'control':
      writer.u8(Kind.Control)
      writer.value(envelope.control)
  }
}

/** Reads one envelope whose kind byte was already read (it is not Routed). */
export function readEnvelopeAfterKind(kind: number, reader: WireReader, refFor: (address: ActorAddress) => ActorRef<Message>): Envelope {
  switch (kind) {
    case Kind.Tell:
    case Kind.TellFrom:
    case Kind.Ask:
    case Kind.AskFrom: {
      const to = reader.u32()
      let replyTo: ReplyTarget | null = null
      if (kind === Kind.Ask || kind === Kind.AskFrom) {
        const corr = reader.u32()
        const node = reader.u16()
        const host = reader.u16()
        replyTo = { node, host, corr, incarnation: reader.u32() }
      }
      let sender: ActorRef<Message> | null = null
      if (kind === Kind.TellFrom || kind === Kind.AskFrom) {
        const node = reader.u16()
        const host = reader.u16()
        const id = reader.u32()
        sender = refFor({ node, host, id, incarnation: reader.u32() })
      }
      return { kind: 'mail', to, item: { message: reader.value() as Message, replyTo, sender } }
    }
    case Kind.ReplyOk:
    case Kind.ReplyError: {
      const corr = reader.u32()
      return { kind: 'reply', corr, ok: kind === Kind.ReplyOk, value: reader.value() }
    }
    case Kind.Control:
      return { kind: 'control', control: reader.value() as ControlMessage }
    default:
      throw new Error(`corrupt stream: envelope kind ${kind}`)
  }
}
