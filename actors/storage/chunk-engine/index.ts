/** The chunk engine's public face: what the chain replica and the storage node import. */
export { openChunkEngine, chunkEngineMutants } from './engine.ts'
export type {
  ChainSpace, ChunkEngine, ChunkEngineEnv, ChunkEngineFormat, ChunkEngineMutant, ChunkEngineOptions, ChunkEngineState,
  ChunkEngineStats, ChunkRange, ChunkUpdate, ChunkUpdateKind, CommitRequest, CommitResult, EngineSpace, ReadRequest,
  ReadObserver, ReadResult, UpdateResult,
} from './engine.ts'
export { commitVersionOf, updateVersionOf, type ChunkMeta, type ChunkVersionMeta, type UpdateTag } from './chunk-meta.ts'
export { ChunkEngineErrorCode, isTargetFault } from './errors.ts'
export { chunkBytesMax, blockBytesMin, blockBytesMax } from './limits.ts'
export * from '../chunk-id.ts'
