/** placeholder replaced below */
import type { Kv } from './kv.ts'
export async function openFdbKv(_: unknown): Promise<Kv> {
  throw new Error('not yet')
}
