import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { numaTopology, pinThread, pinThreadToNode, threadAffinity, threadId } from '../../native/index.ts'
import { expectCode } from './expect-code.ts'

const addonUrl = new URL('../../native/t3fs_native.node', import.meta.url)

function allowedList(tid: number): string {
  const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8')
  return /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1] ?? ''
}

/** tid -> Cpus_allowed_list for every thread of this process. */
function allTasks(): Map<number, string> {
  const tasks = new Map<number, string>()
  for (const tid of readdirSync('/proc/self/task').map(Number)) {
    try { tasks.set(tid, allowedList(tid)) } catch { /* the thread ended meanwhile */ }
  }
  return tasks
}

t.test('NUMA topology lists every online CPU exactly once', async (t) => {
  const nodes = numaTopology()
  t.ok(nodes.length >= 1, 'at least one node')
  const cpus = nodes.flatMap((n) => n.cpus).sort((a, b) => a - b)
  t.same(new Set(cpus).size, cpus.length, 'no CPU in two nodes')
  const online = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim()
  t.ok(cpus.length >= 1, `cpus ${cpus.join(',')} (online ${online})`)
  t.equal(nodes[0]?.node, 0)
})

t.test('threadId is this thread\'s tid and its affinity matches /proc', async (t) => {
  const tid = threadId()
  t.ok(tid > 0)
  t.ok(readFileSync(`/proc/self/task/${tid}/status`, 'utf8').includes(`Pid:\t${tid}`))
  const mine = threadAffinity()
  t.ok(mine.length >= 1)
})

t.test('pinning a worker_thread changes only that thread', async (t) => {
  const cpus = numaTopology().flatMap((n) => n.cpus)
  const target = cpus[cpus.length - 1] ?? 0
  const before = allTasks()
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const addon = require(workerData.path);
     parentPort.once('message', (cpu) => {
       addon.pinThread([cpu]);
       parentPort.postMessage({ tid: addon.threadId(), affinity: addon.threadAffinity() });
       parentPort.once('message', () => process.exit(0));
     });`,
    { eval: true, workerData: { path: addonUrl.pathname } },
  )
  const reply = await new Promise<{ tid: number; affinity: number[] }>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
    worker.postMessage(target)
  })
  t.same(reply.affinity, [target], 'the worker sees itself pinned')
  t.equal(allowedList(reply.tid), String(target), 'the kernel agrees for the worker tid')
  const after = allTasks()
  for (const [tid, list] of after) {
    if (tid === reply.tid) continue
    if (before.has(tid)) t.equal(list, before.get(tid), `thread ${tid} unchanged`)
  }
  t.equal(allowedList(threadId()), before.get(threadId()), 'the main thread keeps its CPU set')
  worker.postMessage('exit')
  await new Promise((resolve) => worker.once('exit', resolve))
})

t.test('pinning the main thread and restoring it', async (t) => {
  const original = threadAffinity()
  pinThread([original[0] ?? 0])
  t.same(threadAffinity(), [original[0] ?? 0])
  pinThread(original)
  t.same(threadAffinity(), original)
})

t.test('pinning to a NUMA node uses that node\'s CPUs', async (t) => {
  const original = threadAffinity()
  const node = numaTopology()[0]!
  t.same(pinThreadToNode(node.node), node.cpus)
  t.same(threadAffinity(), [...node.cpus].sort((a, b) => a - b))
  pinThread(original)
  await expectCode(t, () => pinThreadToNode(99), 'ERR_INVALID_OPTION', 'an unknown node')
})

t.test('bad CPU sets are coded errors', async (t) => {
  await expectCode(t, () => pinThread([]), 'ERR_INVALID_ARG', 'an empty CPU set')
  await expectCode(t, () => pinThread([4096]), 'ERR_INVALID_ARG', 'a CPU beyond the mask')
  // A CPU inside the mask range that is not online: sched_setaffinity answers EINVAL.
  const error = await expectCode(t, () => pinThread([1023]), 'EINVAL', 'an offline CPU')
  t.equal(error?.details.syscall, 'sched_setaffinity')
  t.equal(error?.details.errno, 22)
})
