/**
 * `init()` options and the SP_* environment variables. Deliberate change from smallpond: an explicit
 * argument wins over the environment (smallpond lets the environment win, which surprises callers);
 * the environment fills in what the caller left out.
 */
import { homedir, availableParallelism } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import type { Random } from '../../runtime/random.ts'
import { progressSetting } from '../../runtime/progress/progress.ts'
import { invalidArgument } from './errors.ts'

export interface InitOptions {
  jobId?: string
  /** Job creation time (part of the job dir name); a Date, epoch ms, or an ISO string. */
  jobTime?: Date | number | string
  /** Accepted and recorded; smallpond ignores it. */
  jobName?: string
  /**
   * Where job dirs go: a path, or `t3fs://<clusterId>/<path>` (`t3fs:///<path>`: the only t3fs
   * cluster mounted here), resolved to that path under this machine's FUSE mount of the cluster
   * (see t3fs-path.ts for why DuckDB goes through the mount). Paths given to readParquet,
   * readCsv, readJson and writeParquet may be `t3fs://` too.
   */
  dataRoot?: string
  /** Task slots that run at once (smallpond: executors; 0 = as many as CPUs). */
  numExecutors?: number
  /** DuckDB threads per task (default 1). */
  threadsPerTask?: number
  /** DuckDB memory limit per task (default 1 GiB). */
  memoryPerTaskBytes?: number
  /** Failures allowed per task before the job fails (default 3; 0 = fail fast). */
  maxFailCount?: number
  /** Inject a fault into task attempts with this probability (tests only). */
  faultInjectProb?: number
  /** Job random seed (uint32); task seeds derive from it. */
  randomSeed?: number
  /** On a successful shutdown also delete `{jobRoot}/output` (default true, as smallpond). */
  removeOutputRoot?: boolean
  /**
   * Show the job's progress on stderr (tasks done/total, stages, rows, bytes, ETA): a line redrawn
   * in place on a terminal, a plain line every few seconds otherwise. Default false (a library stays
   * quiet); T3FS_PROGRESS=1 or 0 in the environment wins either way.
   */
  progress?: boolean
  bindNumaNode?: boolean
  memoryAllocator?: 'system' | 'jemalloc' | 'mimalloc'
  platform?: string
  /**
   * Where tasks run: 'in-process' (default) or 'actors' — a NodeRuntime owned by the session, with a
   * scheduler actor and one task actor per attempt on its worker hosts (SP_EXECUTOR).
   */
  executor?: 'in-process' | 'actors'
  /** Worker hosts per NUMA domain when executor is 'actors' (default 1). */
  hostsPerDomain?: number
  /**
   * Task checkpoints under `{jobRoot}/staging/completed_tasks/` (default true): rerunning a job
   * that crashed, with the same dataRoot, jobId and jobTime, skips its completed tasks.
   */
  checkpoints?: boolean
  /** smallpond's --speculative_exec: copies of straggling tasks (default enable, minimum 180 s over p50). */
  speculativeExec?: 'disable' | 'enable' | 'aggressive'
  speculativeMinMs?: number
  /** Speculative copies per task (smallpond's --max_retry, default 5). */
  maxRetryCount?: number
}

export interface ResolvedConfig {
  readonly jobId: string
  readonly jobTimeMs: number
  readonly jobName: string
  readonly dataRoot: string
  readonly numExecutors: number
  readonly threadsPerTask: number
  readonly memoryPerTaskBytes: number
  readonly maxFailCount: number
  readonly faultInjectProb: number
  readonly randomSeed: number
  readonly removeOutputRoot: boolean
  readonly progress: boolean
  readonly bindNumaNode: boolean
  readonly memoryAllocator: 'system' | 'jemalloc' | 'mimalloc'
  readonly platform: string
  readonly executor: 'in-process' | 'actors'
  readonly speculativeExec: 'disable' | 'enable' | 'aggressive'
  readonly speculativeMinMs: number
  readonly maxRetryCount: number
  readonly hostsPerDomain: number
  readonly checkpoints: boolean
  readonly warnings: readonly string[]
}

const UUID = /^[0-9a-fA-F-]{8,64}$/

function intFrom(name: string, value: string | number | undefined, min: number, max: number): number | undefined {
  if (value === undefined || value === '') return undefined
  const n = typeof value === 'number' ? value : Number(value)
  if (!Number.isInteger(n) || n < min || n > max) throw invalidArgument(name, value, `an integer in ${min}..${max}`)
  return n
}

function timeFrom(name: string, value: Date | number | string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(value)
  if (!Number.isFinite(ms)) throw invalidArgument(name, value, 'a Date, epoch milliseconds, or an ISO 8601 time')
  return ms
}

/** A version-4 UUID from the injected random source (so seeded sessions get reproducible job ids). */
export function uuid4(random: Random): string {
  const hex = Array.from({ length: 32 }, () => random.int(16).toString(16))
  hex[12] = '4'
  hex[16] = (8 + random.int(4)).toString(16)
  const h = hex.join('')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidArgument(name, value, 'true or false')
  return value
}

/** T3FS_PROGRESS, refused as smallpond refuses its SP_* variables. */
function progressFrom(env: Readonly<Record<string, string | undefined>>): boolean | undefined {
  try {
    return progressSetting(env)
  } catch {
    throw invalidArgument('T3FS_PROGRESS', env.T3FS_PROGRESS, '0 or 1 (also off/on, false/true, no/yes), or unset')
  }
}

function checkSpeculative(value: string): 'disable' | 'enable' | 'aggressive' {
  if (value !== 'disable' && value !== 'enable' && value !== 'aggressive') throw invalidArgument('speculativeExec', value, 'disable | enable | aggressive')
  return value
}

export function resolveConfig(options: InitOptions, env: Readonly<Record<string, string | undefined>>, nowMs: number,
  random: Random): ResolvedConfig {
  const warnings: string[] = []
  const jobId = options.jobId ?? env.SP_JOBID ?? uuid4(random)
  if (!UUID.test(jobId)) throw invalidArgument('jobId (SP_JOBID)', jobId, 'a UUID-like id of hex digits and dashes')
  let dataRoot = options.dataRoot ?? env.SP_DATA_ROOT
  if (!dataRoot) {
    dataRoot = join(homedir(), '.smallpond', 'data')
    warnings.push(`data root not set (dataRoot or SP_DATA_ROOT); using ${dataRoot}`)
  }
  if (!isAbsolute(dataRoot)) dataRoot = resolve(dataRoot)
  const platform = options.platform ?? env.SP_PLATFORM ?? 'local'
  if (platform !== 'local') throw invalidArgument('platform (SP_PLATFORM)', platform, '"local" (worker hosts of the actor runtime)')
  const allocator = options.memoryAllocator ?? env.SP_MEMORY_ALLOCATOR ?? 'system'
  if (!['system', 'jemalloc', 'mimalloc'].includes(allocator)) {
    throw invalidArgument('memoryAllocator (SP_MEMORY_ALLOCATOR)', allocator, 'system | jemalloc | mimalloc')
  }
  const executor = options.executor ?? env.SP_EXECUTOR ?? 'in-process'
  if (executor !== 'in-process' && executor !== 'actors') throw invalidArgument('executor (SP_EXECUTOR)', executor, 'in-process | actors')
  const execs = intFrom('numExecutors (SP_NUM_EXECUTORS)', options.numExecutors ?? env.SP_NUM_EXECUTORS, 0, 1024) ?? 0
  const prob = options.faultInjectProb ?? 0
  if (!(prob >= 0 && prob < 1)) throw invalidArgument('faultInjectProb', prob, 'a number in [0, 1)')
  return {
    jobId,
    jobTimeMs: timeFrom('jobTime (SP_JOB_TIME)', options.jobTime ?? env.SP_JOB_TIME) ?? nowMs,
    jobName: options.jobName ?? env.SP_JOB_NAME ?? 'smallpond',
    dataRoot,
    numExecutors: execs === 0 ? availableParallelism() : execs,
    threadsPerTask: intFrom('threadsPerTask', options.threadsPerTask, 1, 256) ?? 1,
    memoryPerTaskBytes: intFrom('memoryPerTaskBytes', options.memoryPerTaskBytes, 16 << 20, Number.MAX_SAFE_INTEGER) ?? 1 << 30,
    maxFailCount: intFrom('maxFailCount', options.maxFailCount, 0, 100) ?? 3,
    faultInjectProb: prob,
    randomSeed: intFrom('randomSeed', options.randomSeed, 0, 0xffffffff) ?? (random.next() * 0x1_0000_0000) >>> 0,
    removeOutputRoot: options.removeOutputRoot ?? true,
    progress: progressFrom(env) ?? checkBoolean('progress', options.progress ?? false),
    bindNumaNode: options.bindNumaNode ?? env.SP_BIND_NUMA_NODE === '1',
    memoryAllocator: allocator as ResolvedConfig['memoryAllocator'],
    platform,
    executor,
    speculativeExec: checkSpeculative(options.speculativeExec ?? 'enable'),
    speculativeMinMs: intFrom('speculativeMinMs', options.speculativeMinMs, 1, 86_400_000) ?? 180_000,
    maxRetryCount: intFrom('maxRetryCount', options.maxRetryCount, 0, 100) ?? 5,
    hostsPerDomain: intFrom('hostsPerDomain', options.hostsPerDomain, 1, 64) ?? 1,
    checkpoints: checkBoolean('checkpoints', options.checkpoints ?? true),
    warnings,
  }
}
