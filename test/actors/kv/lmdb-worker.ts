/**
 * Body of the worker threads and child processes the lmdb tests start. Modes:
 * - transfer: random transfers between accounts (conserved total), with audits; reports stats.
 * - crash: endless multi-key transactions; prints each committed index (the parent SIGKILLs it).
 * - crashBatch: the same from concurrent clients, so the kill lands inside group commits.
 */
import { writeSync } from 'node:fs'
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { openKv } from '../../../actors/kv/open-kv.ts'
import { pack } from '../../../actors/kv/tuple.ts'
import { prng } from './conformance.ts'

export interface WorkerArgs {
  mode: 'transfer' | 'crash' | 'crashBatch' | 'write'
  path: string
  seed: number
  accounts?: number
  transfers?: number
  start?: number
  /** transfer, crashBatch: concurrent clients in the worker (they share group commits). */
  clients?: number
  /** write mode: key and value (latin1) to set in one transaction. */
  key?: string
  /** write: set to 1 (and notified) once the commit is acknowledged, for a parent blocked in Atomics.wait. */
  done?: SharedArrayBuffer
  value?: string
}

export const acctKey = (i: number) => pack(['acct', i])
export const crashKey = (i: number, j: number) => pack(['crash', i, j])
export const CRASH_KEYS_PER_TXN = 16

async function transfer(args: WorkerArgs): Promise<Record<string, number>> {
  const kv = await openKv({ backend: 'lmdb', path: args.path, retry: { initialBackoffMs: 1, maxBackoffMs: 50, maxRetries: 10_000 } })
  const accounts = args.accounts ?? 8
  let badAudits = 0
  // Concurrent clients in one process share its group commits.
  const client = async (index: number) => {
    const rand = prng(args.seed * 1000 + index)
    for (let n = 0; n < (args.transfers ?? 50); n++) {
      if (n % 10 === 9) {
        const total = await kv.transact(async (tx) => {
          let sum = 0
          for (let i = 0; i < accounts; i++) sum += Number((await tx.get(acctKey(i)))?.toString())
          return sum
        })
        if (total !== accounts * 100) badAudits++
        continue
      }
      const from = Math.floor(rand() * accounts)
      const to = (from + 1 + Math.floor(rand() * (accounts - 1))) % accounts
      const amount = 1 + Math.floor(rand() * 10)
      await kv.transact(async (tx) => {
        const a = Number((await tx.get(acctKey(from)))?.toString())
        await new Promise((r) => setImmediate(r))
        const c = Number((await tx.get(acctKey(to)))?.toString())
        tx.set(acctKey(from), Buffer.from(String(a - amount)))
        tx.set(acctKey(to), Buffer.from(String(c + amount)))
      })
    }
  }
  await Promise.all(Array.from({ length: args.clients ?? 1 }, (_, index) => client(index)))
  const stats = { ...kv.stats, badAudits }
  await kv.close()
  return stats
}

async function crash(args: WorkerArgs): Promise<never> {
  const kv = await openKv({ backend: 'lmdb', path: args.path })
  const filler = Buffer.alloc(1500, 0x5a)
  for (let i = args.start ?? 0; ; i++) {
    writeSync(1, `b${i}\n`)
    await kv.transact((tx) => {
      for (let j = 0; j < CRASH_KEYS_PER_TXN; j++) tx.set(crashKey(i, j), Buffer.concat([Buffer.from(`${i}:`), filler]))
      tx.set(pack(['last']), Buffer.from(String(i)))
      tx.add(pack(['count']), 1n)
    })
    writeSync(1, `${i}\n`)
  }
}

/**
 * Endless transactions from `clients` concurrent clients, so they share batches: each writes
 * CRASH_KEYS_PER_TXN keys, its versionstamp under ['stamp', i] and adds 1 to ['count']. Prints
 * `b<i>` before and `<i>` after each acknowledged commit.
 */
async function crashBatch(args: WorkerArgs): Promise<never> {
  const kv = await openKv({ backend: 'lmdb', path: args.path })
  const filler = Buffer.alloc(1500, 0x5a)
  let next = args.start ?? 0
  const client = async (): Promise<never> => {
    for (;;) {
      const i = next++
      writeSync(1, `b${i}\n`)
      await kv.transact((tx) => {
        for (let j = 0; j < CRASH_KEYS_PER_TXN; j++) tx.set(crashKey(i, j), Buffer.concat([Buffer.from(`${i}:`), filler]))
        tx.setVersionstampedValue(pack(['stamp', i]), Buffer.alloc(10))
        tx.add(pack(['count']), 1n)
      })
      writeSync(1, `${i}\n`)
    }
  }
  return Promise.race(Array.from({ length: args.clients ?? 8 }, () => client()))
}

async function write(args: WorkerArgs): Promise<Record<string, number>> {
  const kv = await openKv({ backend: 'lmdb', path: args.path })
  const { info } = await kv.transactWithInfo((tx) => tx.set(Buffer.from(args.key ?? '', 'latin1'), Buffer.from(args.value ?? '', 'latin1')))
  if (args.done !== undefined) {
    const flag = new Int32Array(args.done)
    Atomics.store(flag, 0, 1)
    Atomics.notify(flag, 0)
  }
  await kv.close()
  return { committedVersion: Number(info.committedVersion) }
}

async function main(args: WorkerArgs): Promise<unknown> {
  if (args.mode === 'transfer') return transfer(args)
  if (args.mode === 'write') return write(args)
  if (args.mode === 'crashBatch') return crashBatch(args)
  return crash(args)
}

if (!isMainThread) {
  main(workerData as WorkerArgs).then((r) => parentPort?.postMessage(r))
} else if (process.argv[2] !== undefined) {
  main(JSON.parse(process.argv[2]) as WorkerArgs).then((r) => writeSync(1, JSON.stringify(r) + '\n'))
}
