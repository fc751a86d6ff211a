/** Shared by the native tests: asserts that `run` throws (or rejects with) a T3fsError with `code`. */
import { T3fsError } from '../../runtime/errors.ts'

interface Tap { ok(value: unknown, message?: string): unknown; fail(message?: string): unknown }

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
