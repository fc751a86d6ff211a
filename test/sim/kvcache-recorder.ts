/**
 * The FileClient a KVCache instance of the simulation runs on: the real one, with its unlinks,
 * temporary-file creates and the failures of steps on temporary files reported to the model
 * (kvcache-model.ts) as they start and end. Which rule explains an unlink of a block is read from
 * what the harness has running on that instance (a delete of the key, a GC pass, a put). A broken
 * rule is handed to `fail` (the KVCache would swallow an exception in its cleanup paths).
 */
import type { FileClient, FileHandle, FilePath } from '../../actors/client/file-client.ts'
import { tempPrefix } from '../../actors/kvcache/kv-layout.ts'
import type { Clock } from '../../runtime/clock.ts'
import { isT3fsError } from '../../runtime/errors.ts'
import type { KvModel, PutRec, UnlinkKind } from './kvcache-model.ts'

/** What the harness has running on one KVCache instance (one life of a writer). */
export interface InstanceActivity {
  readonly name: string
  /** False once its node crashed: whatever its calls still do is not recorded (the model counts them as lost). */
  alive: boolean
  /** Keys with a delete in flight (count per key). */
  readonly deleting: Map<string, number>
  /** seq of each gc() call in flight. */
  readonly gcInvs: number[]
  /** The put in flight per key (the harness puts one key at a time per instance). */
  readonly putting: Map<string, PutRec>
}

const tempName = /^\.tmp\.(.+)\.[A-Za-z0-9_-]+\.\d+$/

function split(path: string): { key: string; temp: boolean } {
  const name = path.slice(path.lastIndexOf('/') + 1)
  const m = name.startsWith(tempPrefix) ? tempName.exec(name) : null
  return m === null ? { key: name, temp: false } : { key: m[1], temp: true }
}

export function recordingClient(fs: FileClient, act: InstanceActivity, model: KvModel, clock: Clock, fail: (error: unknown) => void): FileClient {
  const tempOf = new Map<number, string>()
  const guard = (check: () => void): void => {
    try {
      check()
    } catch (error) {
      fail(error)
    }
  }
  /** A failed step on a temporary file marks its put (so its own unlink of the file is cleanup). */
  const onTemp = <T>(path: string | undefined, work: Promise<T>): Promise<T> => {
    if (path === undefined) return work
    return work.catch((error: unknown) => {
      model.tempFailed(path)
      throw error
    })
  }
  const unlink = async (target: FilePath): Promise<void> => {
    if (typeof target !== 'string' || !act.alive) return fs.unlink(target)
    const path = target
    const { key, temp } = split(path)
    if (temp) {
      guard(() => model.tempUnlink(act.name, path, act.gcInvs.length > 0, clock.now()))
      return fs.unlink(path)
    }
    const kind: UnlinkKind = act.deleting.has(key) ? 'delete' : act.gcInvs.length > 0 ? 'gc' : act.putting.size > 0 ? 'evict' : 'unexplained'
    let rec: ReturnType<KvModel['unlinkStarted']> | null = null
    guard(() => { rec = model.unlinkStarted(act.name, key, kind, clock.now(), Math.min(...act.gcInvs)) })
    try {
      await fs.unlink(path)
    } catch (error) {
      if (rec !== null) model.unlinkEnded(rec, isT3fsError(error, 'ENOENT') ? 'enoent' : 'failed', clock.now())
      throw error
    }
    const done = rec
    if (done !== null) guard(() => model.unlinkEnded(done, 'ok', clock.now()))
  }
  const create = async (target: FilePath, perm?: number, options?: Parameters<FileClient['create']>[2]): Promise<FileHandle> => {
    if (typeof target !== 'string' || !act.alive) return fs.create(target, perm, options)
    const path = target
    const { key, temp } = split(path)
    const undo = temp ? model.tempCreating(path, act.putting.get(key) ?? null, clock.now()) : null
    try {
      const h = await fs.create(path, perm, options)
      if (temp) tempOf.set(h.id, path)
      return h
    } catch (error) {
      if (isT3fsError(error, 'EEXIST')) undo?.()
      throw error
    }
  }
  const wrapped: Partial<FileClient> = {
    unlink,
    create,
    write: (h, data, position) => onTemp(tempOf.get(h.id), fs.write(h, data, position)),
    close: (h) => onTemp(tempOf.get(h.id), fs.close(h)).finally(() => tempOf.delete(h.id)),
    setattr: (target, attrs) => onTemp(typeof target === 'string' && split(target).temp ? target : undefined, fs.setattr(target, attrs)),
    rename: (from, to, options) => onTemp(typeof from === 'string' && split(from).temp ? from : undefined, fs.rename(from, to, options)),
  }
  return new Proxy(fs, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && prop in wrapped) return wrapped[prop as keyof FileClient]
      const value: unknown = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
