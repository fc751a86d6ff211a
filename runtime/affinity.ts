/**
 * Pinning the calling thread to CPUs through the native addon, when it is built. Without it the
 * host only records the CPU set it meant to use, and says why in its stats.
 */
export interface PinResult {
  readonly pinned: boolean
  readonly cpus: readonly number[]
  readonly threadId: number | null
  readonly reason: string | null
}

export async function pinThisThread(cpus: readonly number[]): Promise<PinResult> {
  let native: typeof import('../native/index.ts')
  try {
    native = await import('../native/index.ts')
    if (!native.nativeAvailable()) native.native() // throws the addon's own explanation
  } catch (error) {
    return { pinned: false, cpus, threadId: null, reason: `native addon unavailable: ${error instanceof Error ? error.message : String(error)}` }
  }
  try {
    native.pinThread(cpus)
    return { pinned: true, cpus: native.threadAffinity(), threadId: native.threadId(), reason: null }
  } catch (error) {
    return { pinned: false, cpus, threadId: null, reason: error instanceof Error ? error.message : String(error) }
  }
}
