/**
 * The FileClient's actor (implementation to follow in this branch): it owns the client's pool
 * buffers and regions, receives mgmtd's routing pushes and renews the client's registration.
 */
import type { ActorContext, Message } from '../../runtime/actor.ts'
import type { ActorSystem } from '../../runtime/actor-system.ts'
import { T3fsError } from '../../runtime/errors.ts'
import type { FileClient, FileClientOptions } from './file-client.ts'

/** A FileClient on `system` (host 0 of a NodeRuntime, or any ActorSystem with a buffer pool and regions). */
export async function startFileClient(system: ActorSystem, options: FileClientOptions): Promise<FileClient> {
  void system
  void options
  throw new T3fsError('ERR_NOT_IMPLEMENTED', 'startFileClient: coming in this branch')
}

/** A FileClient for an actor: a child actor of `ctx` does the I/O; use it from that actor's thread. */
export async function createFileClient(ctx: ActorContext<Message>, options: FileClientOptions): Promise<FileClient> {
  void ctx
  void options
  throw new T3fsError('ERR_NOT_IMPLEMENTED', 'createFileClient: coming in this branch')
}
