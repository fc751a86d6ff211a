import assert from 'node:assert/strict'
import type { ActorRef, Message } from './actor.ts'
import type { ReplyTarget } from './mail.ts'

/**
 * An actor's bounded mailbox: messages with their reply targets and senders in parallel rings,
 * so queuing a message allocates nothing. `push` refuses when full: that is the backpressure the
 * sender sees.
 */
export class Mailbox {
  private messages: (Message | undefined)[]
  private replies: (ReplyTarget | null)[]
  private senders: (ActorRef<Message> | null)[]
  private head = 0
  private count = 0
  /** Reply target and sender of the message `shift` returned last. */
  replyTo: ReplyTarget | null = null
  sender: ActorRef<Message> | null = null

  constructor(readonly capacity: number) {
    assert.ok(Number.isInteger(capacity) && capacity > 0, 'capacity must be a positive integer')
    this.messages = new Array<Message | undefined>(capacity)
    this.replies = new Array<ReplyTarget | null>(capacity).fill(null)
    this.senders = new Array<ActorRef<Message> | null>(capacity).fill(null)
  }

  get length(): number {
    return this.count
  }

  get full(): boolean {
    return this.count >= this.capacity
  }

  push(message: Message, replyTo: ReplyTarget | null, sender: ActorRef<Message> | null): boolean {
    if (this.count >= this.capacity) return false
    this.append(message, replyTo, sender)
    return true
  }

  /**
   * Queues a message the runtime generates for the actor itself (completions of its piped work),
   * past the bound: dropping it would lose the work's result, and the actor bounds how much work it
   * has in flight. The ring grows to make room.
   */
  pushOver(message: Message): void {
    this.append(message, null, null)
  }

  private append(message: Message, replyTo: ReplyTarget | null, sender: ActorRef<Message> | null): void {
    if (this.count === this.messages.length) this.grow()
    let slot = this.head + this.count
    if (slot >= this.messages.length) slot -= this.messages.length
    this.messages[slot] = message
    this.replies[slot] = replyTo
    this.senders[slot] = sender
    this.count++
  }

  private grow(): void {
    const size = this.messages.length
    const order = (i: number) => (this.head + i) % size
    const messages = Array.from({ length: size * 2 }, (_, i) => (i < this.count ? this.messages[order(i)] : undefined))
    const replies = Array.from({ length: size * 2 }, (_, i) => (i < this.count ? this.replies[order(i)] : null))
    const senders = Array.from({ length: size * 2 }, (_, i) => (i < this.count ? this.senders[order(i)] : null))
    this.messages = messages
    this.replies = replies
    this.senders = senders
    this.head = 0
  }

  /** The oldest message (its reply target and sender in `replyTo` / `sender`), or undefined. */
  shift(): Message | undefined {
    if (this.count === 0) return undefined
    const slot = this.head
    const message = this.messages[slot]
    this.replyTo = this.replies[slot]
    this.sender = this.senders[slot]
    this.messages[slot] = undefined
    this.replies[slot] = null
    this.senders[slot] = null
    this.head = slot + 1 === this.messages.length ? 0 : slot + 1
    this.count--
    return message
  }

  /** Removes everything, returning the reply targets still waiting (for an actor that stopped). */
  drainReplyTargets(): ReplyTarget[] {
    const targets: ReplyTarget[] = []
    while (this.shift() !== undefined) if (this.replyTo !== null) targets.push(this.replyTo)
    this.replyTo = null
    this.sender = null
    return targets
  }
}
