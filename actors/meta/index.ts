/** Public entry point of meta: what launch profiles, clients (FUSE next), tools and tests import. */
export { metaActor, type MetaArgs } from './meta-actor.ts'
export { MetaClient, RETRYABLE_CODES, type MetaClientOptions, type ReplyFor, type RequestOf } from './meta-client.ts'
export * from './protocol.ts'
export { ERRNO, isErrno, metaError, type Errno } from './errors.ts'
export { unavailableStorage, STORAGE_UNAVAILABLE, type StorageService, type StorageMetaMsg } from './storage-protocol.ts'
export { staticRouting, routingViewOf, type RoutingView } from './routing-view.ts'
export { MUTANTS, type Mutant } from './op-context.ts'
export { META_COMMANDS } from './admin/commands.ts'
