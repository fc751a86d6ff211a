/**
 * Pinning the calling thread to CPUs through the native addon, when it is built. Without it the
 * host only records the CPU set it meant to use, and says so in its stats.
 */
export interface PinResult {
  readonly pinned: boolean
  readonly cpus: readonly number[]
  readonly threadId: number | null
  readonly reason: string | null
}

interface NativeAffinity {
  pinCurrentThread(cpus: readonly number[]): void
  currentThreadId(): number
}

export async function pinThisThread(cpus: readonly number[]): Promise<PinResult> {
  let native: NativeAffinity
  try {
    // Resolved at run time: the addon is optional and built by `npm install` when cargo exists.
    const specifier = '../native/index.ts'
    native = (await import(specifier)) as NativeAffinity
    if (typeof native.pinCurrentThread !== 'function') throw new Error('the native addon has no pinCurrentThread')
  } catch (error) {
    return { pinned: false, cpus, threadId: null, reason: `native addon unavailable: ${error instanceof Error ? error.message : String(error)}` }
  }
  try {
    native.pinCurrentThread(cpus)
    return { pinned: true, cpus, threadId: native.currentThreadId(), reason: null }
  } catch (error) {
    return { pinned: false, cpus, threadId: null, reason: error instanceof Error ? error.message : String(error) }
  }
}
