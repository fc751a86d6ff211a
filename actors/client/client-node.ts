/**
 * A plain Node process joining a running cluster as a client node (implementation to follow in
 * this branch).
 */
import { T3fsError } from '../../runtime/errors.ts'
import type { ConnectFileClientOptions, FileClient } from './file-client.ts'

export async function connectFileClient(options: ConnectFileClientOptions = {}): Promise<FileClient> {
  void options
  throw new T3fsError('ERR_NOT_IMPLEMENTED', 'connectFileClient: coming in this branch')
}
