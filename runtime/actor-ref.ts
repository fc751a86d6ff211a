import type { ActorRef, AskOptions, AskReply, Message } from './actor.ts'
import { formatAddress, sameAddress, type ActorAddress } from './address.ts'

/** What a ref needs from the system it was made in: delivery, asking, and waiting for room. */
export interface RefRouter {
  tellFrom(to: ActorAddress, message: Message, sender: ActorRef<Message> | null): void
  sendFrom(to: ActorAddress, message: Message, sender: ActorRef<Message> | null): Promise<void>
  askFrom(to: ActorAddress, message: Message, sender: ActorRef<Message> | null, options: AskOptions | undefined): Promise<unknown>
}

/** A location-transparent handle: the same object whether the actor is on this thread or not. */
export class ActorRefImpl<M extends Message = Message> implements ActorRef<M> {
  constructor(
    readonly address: ActorAddress,
    readonly router: RefRouter,
  ) {}

  tell(message: M): void {
    this.router.tellFrom(this.address, message, null)
  }

  send(message: M): Promise<void> {
    return this.router.sendFrom(this.address, message, null)
  }

  ask<Q extends M>(message: Q, options?: AskOptions): Promise<AskReply<M, Q>> {
    return this.router.askFrom(this.address, message, null, options) as Promise<AskReply<M, Q>>
  }

  equals(other: ActorRef<Message>): boolean {
    return sameAddress(this.address, other.address)
  }

  toString(): string {
    return formatAddress(this.address)
  }

  toJSON(): string {
    return formatAddress(this.address)
  }
}
