/** The chunk engine's implementation (the interface and its documentation are in engine.ts). */
import { T3fsError } from '../../../runtime/errors.ts'
import type { ChunkEngine, ChunkEngineEnv, ChunkEngineOptions } from './engine.ts'

export function openEngine(_env: ChunkEngineEnv, _options: ChunkEngineOptions): Promise<ChunkEngine> {
  return Promise.reject(new T3fsError('ERR_NOT_IMPLEMENTED', 'the chunk engine is being built on branch chunk-engine'))
}
