/**
 * The job directory: `{dataRoot}/{YYYY-mm-dd-HH-MM-SS}.{jobId}/` with config/ log/ queue/ output/
 * staging/ temp/, and `log/.STATUS` lines `running@ts` / `success@ts` / `failure@ts`.
 */
import { appendFile, mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'

export const JOB_SUBDIRS = ['config', 'log', 'queue', 'output', 'staging', 'temp'] as const
export type JobStatus = 'running' | 'success' | 'failure'

export function formatJobTime(ms: number): string {
  const d = new Date(ms)
  const p = (n: number): string => String(n).padStart(2, '0')
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${p(d.getUTCHours())}-${p(d.getUTCMinutes())}-${p(d.getUTCSeconds())}`
}

export function jobRootOf(dataRoot: string, jobTimeMs: number, jobId: string): string {
  return join(dataRoot, `${formatJobTime(jobTimeMs)}.${jobId}`)
}

export async function createJobDirs(jobRoot: string): Promise<void> {
  for (const d of JOB_SUBDIRS) await mkdir(join(jobRoot, d), { recursive: true })
}

export async function appendStatus(jobRoot: string, status: JobStatus, nowMs: number): Promise<void> {
  await mkdir(join(jobRoot, 'log'), { recursive: true })
  await appendFile(join(jobRoot, 'log', '.STATUS'), `${status}@${formatJobTime(nowMs)}\n`)
}

/** On success smallpond removes queue/, temp/, staging/ (and output/ when asked). */
export async function cleanupJob(jobRoot: string, removeOutputRoot: boolean): Promise<void> {
  for (const d of ['queue', 'temp', 'staging', ...(removeOutputRoot ? ['output'] : [])]) {
    await rm(join(jobRoot, d), { recursive: true, force: true })
  }
}
