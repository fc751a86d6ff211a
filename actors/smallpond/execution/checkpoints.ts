/**
 * Task checkpoints: smallpond's task-level resume (reference §3.4, `staging/completed_tasks/`).
 * When a task succeeds, its output descriptor is written to
 * `{jobRoot}/staging/completed_tasks/{nodeId}/{TaskKey}.ckpt` before any task that depends on it
 * starts. A rerun of the same job (same dataRoot, jobId and jobTime, so the same job dir, and the
 * same program, so the same task ids) loads it instead of running the task again.
 *
 * A checkpoint is only trusted when it belongs to the same task: it carries a fingerprint of the
 * task's key, operation, inputs and partition, and every file of the output must still exist.
 * Otherwise the task runs again (a checkpoint never makes a job wrong, only faster). Writes are
 * atomic (temp file, fsync, rename), so a crash leaves either no checkpoint or a whole one.
 * On success the job's cleanup removes staging/, and the checkpoints with it.
 */
import { createHash } from 'node:crypto'
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { pack, unpack } from 'msgpackr'
import { isFileSpec, type DataSetSpec } from '../logical/dataset.ts'
import type { TaskSpec } from '../logical/task.ts'
import type { TaskOutcome } from './task-exec.ts'

const FORMAT_VERSION = 1
/** Files of an output checked to exist on load; beyond this the checkpoint is trusted by its fingerprint. */
const MAX_FILES_CHECKED = 4096

interface CheckpointRecord {
  readonly version: number
  readonly fingerprint: string
  readonly output: DataSetSpec
  readonly rowsWritten: number
}

/** A stable digest of what the task computes; user functions count by name and module. */
export function taskFingerprint(task: TaskSpec): string {
  const replacer = (_key: string, value: unknown): unknown => {
    if (typeof value === 'function') return `fn:${value.name}:${value.toString().length}`
    if (value instanceof Uint8Array) return `bytes:${createHash('sha256').update(value).digest('hex')}`
    if (value instanceof URL) return value.href
    return value
  }
  const what = { key: task.key, nodeId: task.nodeId, op: task.op, inputIds: task.inputIds, partitions: task.partitionInfos, outputPath: task.outputPath, outputName: task.outputName }
  return createHash('sha256').update(JSON.stringify(what, replacer)).digest('hex')
}

export class TaskCheckpoints {
  /** Tasks loaded from a checkpoint by this process (tests and progress read it). */
  readonly resumed = new Set<number>()
  private saves = 0

  constructor(readonly jobRoot: string) {}

  dirOf(task: TaskSpec): string {
    return join(this.jobRoot, 'staging', 'completed_tasks', String(task.nodeId))
  }

  pathOf(task: TaskSpec): string {
    return join(this.dirOf(task), `${task.key}.ckpt`)
  }

  async save(task: TaskSpec, outcome: TaskOutcome): Promise<void> {
    const record: CheckpointRecord = { version: FORMAT_VERSION, fingerprint: taskFingerprint(task), output: outcome.output, rowsWritten: outcome.rowsWritten }
    await mkdir(this.dirOf(task), { recursive: true })
    const path = this.pathOf(task)
    // Unique per save: a speculative copy of the same task may save at the same time.
    const temp = `${path}.${process.pid}.${++this.saves}.tmp`
    const handle = await open(temp, 'w')
    try {
      await handle.writeFile(pack(record))
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, path)
  }

  /** The saved outcome, or undefined when there is none or it does not hold for this task any more. */
  async load(task: TaskSpec): Promise<TaskOutcome | undefined> {
    let record: CheckpointRecord
    try {
      record = unpack(await readFile(this.pathOf(task))) as CheckpointRecord
    } catch {
      return undefined
    }
    if (record?.version !== FORMAT_VERSION || record.fingerprint !== taskFingerprint(task)) return undefined
    if (!(await filesExist(record.output))) return undefined
    this.resumed.add(task.id)
    return { output: record.output, rowsWritten: record.rowsWritten }
  }

  /** DataFrame.recompute: the task must run again. */
  async forget(task: TaskSpec): Promise<void> {
    await rm(this.pathOf(task), { force: true })
  }
}

async function filesExist(spec: DataSetSpec): Promise<boolean> {
  const paths: string[] = []
  const collect = (s: DataSetSpec): void => {
    if (s.kind === 'partitioned') s.datasets.forEach(collect)
    else if (isFileSpec(s)) for (const f of s.files) paths.push(f.path)
  }
  collect(spec)
  for (const p of paths.slice(0, MAX_FILES_CHECKED)) {
    try {
      await stat(p)
    } catch {
      return false
    }
  }
  return true
}
