/**
 * Entry point of a worker host: one ActorSystem on this thread, pinned to its NUMA domain's CPUs,
 * connected to the other hosts through the mesh, and driven by the main thread over comlink.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { expose } from 'comlink'
import { nodeEndpoint } from './comlink-endpoint.ts'
import { ActorSystem } from './actor-system.ts'
import { pinThisThread } from './affinity.ts'
import { loadDefinition } from './definition-loader.ts'
import type { HostControl, HostWorkerData } from './host-control.ts'
import { HostMesh } from './host-mesh.ts'
import { BufferPool } from './buffer-pool.ts'
import { UringDisk } from './disk/uring-disk.ts'
import { createLogger } from './logger.ts'
import { toT3fsError, type WireError } from './errors.ts'

const data = workerData as HostWorkerData
const pin = await pinThisThread(data.cpus)
const pool = new BufferPool(data.bufferPool)
// This thread's ring serves the disk, with the node's pool registered for fixed-buffer I/O.
const disk = data.diskRoot === null ? null : await UringDisk.open({ root: data.diskRoot, pool })
const system = new ActorSystem({
  node: data.node,
  host: data.host,
  incarnation: data.incarnation,
  servesRegions: true,
  log: createLogger({ level: data.logLevel, fields: { node: data.node, host: data.host } }),
  bufferPool: pool,
  disk,
})
const mesh = new HostMesh(system, data.mesh)
mesh.start()

/** For messages/s in stats: the handled count at the previous stats call. */
let lastSample = { handled: 0, atMs: system.clock.now() }

function failure(error: unknown): { ok: false; error: WireError } {
  return { ok: false, error: toT3fsError(error).toWire() }
}

const control: HostControl = {
  ping: () => data.host,
  async spawn(definitionRef, args, options) {
    try {
      const definition = await loadDefinition(definitionRef)
      return { ok: true, value: system.spawn(definition, args, options).address }
    } catch (error) {
      return failure(error)
    }
  },
  stop(id) {
    try {
      system.stop(system.refFor(system.addressOf(id)))
      return { ok: true, value: null }
    } catch (error) {
      return failure(error)
    }
  },
  stats() {
    const stats = system.stats()
    const handled = stats.mailboxes.reduce((sum, m) => sum + m.handled, 0)
    const now = system.clock.now()
    const rate = ((handled - lastSample.handled) * 1000) / Math.max(1, now - lastSample.atMs)
    lastSample = { handled, atMs: now }
    return {
      host: data.host,
      actors: stats.actors,
      pendingAsks: stats.pendingAsks,
      messagesHandled: handled,
      messagesPerSecond: Math.max(0, Math.round(rate)),
      mailboxes: stats.mailboxes,
      pin,
    }
  },
  metrics: () => system.metrics.families(),
  hostDown(host, reason) {
    mesh.hostDown(host, reason)
  },
  async shutdown(graceMs) {
    system.shutdown()
    await system.quiesced(system.clock.now() + graceMs)
    mesh.stop()
    await disk?.close()
  },
}

expose(control, nodeEndpoint(parentPort!))
