/**
 * `t3fs/client`: the FileClient (file-client.ts has the interface and its semantics) and the three
 * ways to get one: `connectFileClient` from a plain Node process, `createFileClient` from inside an
 * actor, `startFileClient` on an ActorSystem you hold.
 */
export * from './file-client.ts'
export { createFileClient, startFileClient } from './file-client-actor.ts'
export { connectFileClient } from './client-node.ts'
