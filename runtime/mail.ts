import type { ActorRef, Message } from './actor.ts'

/** Where the reply to an ask goes: the host that asked and its correlation id there. */
export interface ReplyTarget {
  readonly node: number
  readonly host: number
  readonly corr: number
  /** The asking node's incarnation: a reply for an earlier one is dropped, never settles a new ask. */
  readonly incarnation: number
}

/** One entry of a mailbox. */
export interface MailItem {
  readonly message: Message
  readonly replyTo: ReplyTarget | null
  readonly sender: ActorRef<Message> | null
}
