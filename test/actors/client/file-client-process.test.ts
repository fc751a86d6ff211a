/**
 * FileClient end to end against a real cluster of launched processes (mgmtd and two meta servers
 * in one node, three storage nodes, chains of three on temp dirs), joined over TCP with
 * connectFileClient: files of several chunks written and read back by another client, a storage
 * node killed (SIGKILL) while a file is written and read (its chains fail over; every byte
 * acknowledged reads back), bad connection options named.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { connectFileClient } from '../../../actors/client/client-node.ts'
import { startProcessFs, type ProcessFs } from './process-fs.ts'

const MiB = 1024 * 1024
let fsCluster: ProcessFs

t.before(async () => {
  fsCluster = await startProcessFs()
})
t.teardown(async () => {
  await fsCluster?.close()
})

t.test('connectFileClient: write 24 MiB in uneven pieces, read it back from another client node, stat, readdir', async (t) => {
  const a = await fsCluster.connect({ description: 'writer' })
  const b = await fsCluster.connect({ description: 'reader' })
  t.teardown(async () => { await a.shutdown(); await b.shutdown() })
  await a.mkdir('/p', { recursive: true })
  const data = randomBytes(24 * MiB)
  const h = await a.create('/p/big')
  for (let at = 0; at < data.length;) {
    const n = Math.min(data.length - at, 1 + Math.floor(Math.random() * 3 * MiB))
    await a.write(h, data.subarray(at, at + n), at)
    at += n
  }
  await a.close(h)
  const st = await b.stat('/p/big')
  t.equal(st.sizeBytes, data.length, 'meta has the exact length after close')
  const r = await b.open('/p/big')
  const back = Buffer.alloc(data.length)
  let got = 0
  while (got < data.length) got += await b.read(r, back, got, Math.min(5 * MiB, data.length - got), got)
  t.ok(back.equals(data), 'every byte reads back from the other client')
  t.equal(await b.read(r, Buffer.alloc(10), data.length), 0, 'nothing past the end')
  await b.close(r)
  t.same((await b.readdirAll('/p')).map((e) => e.name), ['big'])
  const sessions = await fsCluster.mgmtd.ask({ type: 'list-client-sessions' })
  t.ok(sessions.some((s) => s.clientId === a.clientId && s.description === 'writer'), 'the client registered with mgmtd')
  t.ok(a.stats().chunkWrites >= 24 && b.stats().readAheadHits > 0, `chunk I/O and read-ahead: ${JSON.stringify(b.stats())}`)
})

t.test('a storage node killed while a file is written and read: acknowledged bytes survive', async (t) => {
  const a = await fsCluster.connect({ retryBudgetMs: 60_000, requestTimeoutMs: 3_000 })
  t.teardown(() => a.shutdown())
  const data = randomBytes(16 * MiB)
  const h = await a.create('/during-kill')
  const victim = fsCluster.storageNodeIds[1]
  let killed = false
  for (let at = 0; at < data.length; at += MiB) {
    await a.write(h, data.subarray(at, at + MiB), at)
    if (at === 4 * MiB) {
      await a.flush(h)
      fsCluster.kill(victim)
      killed = true
    }
  }
  await a.fsync(h)
  t.ok(killed)
  const r = await a.open('/during-kill', { direct: true })
  const back = Buffer.alloc(data.length)
  t.equal(await a.read(r, back, 0), data.length)
  t.ok(back.equals(data), 'every byte written before, during and after the kill reads back')
  await a.close(r)
  await a.close(h)
  await fsCluster.launch(victim)
  await fsCluster.allServing(90_000)
  const again = await a.open('/during-kill', { direct: true })
  const after = Buffer.alloc(data.length)
  for (let i = 0; i < 3; i++) { // reads spread over replicas, the returned one among them
    await a.read(again, after, 0)
    t.ok(after.equals(data), `read ${i + 1} after the node synced back`)
  }
  await a.close(again)
})

t.test('connection errors are named', async (t) => {
  await t.rejects(connectFileClient({ mgmtd: 'nonsense' }), { code: 'ERR_INVALID_OPTION', message: /option mgmtd is "nonsense"; accepted: host:port/ })
  await t.rejects(connectFileClient({ mgmtd: '127.0.0.1:1', connectTimeoutMs: 500, clientNode: 61_900 }), { code: 'ERR_CLIENT_CONNECT' })
  await t.rejects(fsCluster.connect({ metaNodes: [10001] }), { code: 'ERR_CLIENT_CONNECT', message: /no meta server/ })
  await t.rejects(fsCluster.connect({ writeBufferBytes: 3 * 1024 * MiB }), { code: 'ERR_INVALID_OPTION', message: /writeBufferBytes/ })
})
