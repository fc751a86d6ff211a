/**
 * Waits until every meta server of a fresh process cluster creates files: startProcessFs's probe
 * reaches one of the two, and the other may not have the chain table from mgmtd yet (EIO naming
 * the table). Twenty creates in a row without that error spread over both.
 */
import type { FileClient } from '../../../actors/client/file-client.ts'
import { T3fsError } from '../../../runtime/errors.ts'

export async function untilMetaReady(fs: FileClient, attemptsMax = 300): Promise<void> {
  let streak = 0
  for (let i = 0; streak < 20; i++) {
    try {
      await fs.close(await fs.create(`/.meta-ready-${i}`))
      await fs.unlink(`/.meta-ready-${i}`)
      streak++
    } catch (error) {
      const tableUnknown = error instanceof T3fsError && error.code === 'EIO' && error.details?.tableId !== undefined
      if (!tableUnknown || i >= attemptsMax) throw error
      streak = 0
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}
