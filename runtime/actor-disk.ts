import type { ActorEpoch } from './actor-epoch.ts'
import type { Disk, DiskFile } from './disk/disk.ts'

/**
 * `ctx.disk`: the host's disk as one epoch of an actor sees it. Every operation is counted in
 * flight on the epoch (its pool slots are reclaimed only after the kernel is done with them) and
 * refused once the epoch is fenced; files it opened are closed for it when it ends.
 */
export function actorDisk(disk: Disk, epoch: ActorEpoch, checkLive: (operation: string) => void): Disk {
  const run = <T>(work: () => Promise<T>): Promise<T> => {
    try {
      checkLive('use the disk')
    } catch (error) {
      return Promise.reject(error)
    }
    return epoch.track(work(), true)
  }
  return {
    alignment: disk.alignment,
    name: disk.name,
    open: (path, options) => run(async () => fencedFile(await disk.open(path, options), epoch, run, checkLive)),
    mkdir: (path, options) => run(() => disk.mkdir(path, options)),
    list: (path) => run(() => disk.list(path)),
    stat: (path) => run(() => disk.stat(path)),
    rename: (from, to) => run(() => disk.rename(from, to)),
    unlink: (path) => run(() => disk.unlink(path)),
    rmdir: (path) => run(() => disk.rmdir(path)),
    syncDir: (path) => run(() => disk.syncDir(path)),
    capacity: () => run(() => disk.capacity()),
  }
}

function fencedFile(file: DiskFile, epoch: ActorEpoch, run: <T>(work: () => Promise<T>) => Promise<T>, checkLive: (operation: string) => void): DiskFile {
  if (!epoch.live) {
    // The open finished after the actor crashed: nobody will ever close it but us.
    void file.close().catch(() => {})
    return file
  }
  const fenced: DiskFile = {
    path: file.path,
    direct: file.direct,
    // Reads are the hot path (every 4 KiB read passes here): no closure per call around the work.
    read: (into, position, length, bufferOffset) => {
      try {
        checkLive('use the disk')
      } catch (error) {
        return Promise.reject(error)
      }
      return epoch.track(file.read(into, position, length, bufferOffset), true)
    },
    write: (from, position, length, bufferOffset) => run(() => file.write(from, position, length, bufferOffset)),
    sync: (options) => run(() => file.sync(options)),
    allocate: (position, length, options) => run(() => file.allocate(position, length, options)),
    punchHole: (position, length) => run(() => file.punchHole(position, length)),
    truncate: (lengthBytes) => run(() => file.truncate(lengthBytes)),
    stat: () => run(() => file.stat()),
    close: () => {
      epoch.files.delete(file)
      return file.close()
    },
  }
  epoch.files.add(file)
  return fenced
}
