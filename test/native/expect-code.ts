/** Shared by the native tests: asserts that `run` throws (or rejects with) a T3fsError with `code`. */
import type { Test } from 'tap'
import { T3fsError } from '../../runtime/errors.ts'

type Tap = Pick<Test, 'ok' | 'fail'>

export async function expectCode(t: Tap, run: () => unknown, code: string, message = code): Promise<T3fsError | undefined> {
  try {
    await run()
  } catch (error) {
    const ok = error instanceof T3fsError && error.code === code
    t.ok(ok, `${message} (got ${error instanceof T3fsError ? error.code : String(error)})`)
    return ok ? error : undefined
  }
  t.fail(`${message}: expected ${code}, nothing was thrown`)
  return undefined
}
