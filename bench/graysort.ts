/**
 * GraySort on smallpond: 100-byte records with 10-byte keys, sorted in two phases as in smallpond's
 * gray_sort_benchmark (reference §4): (1) a ShuffleNode into 2^k range partitions, whose bucket (a
 * monotone function of the key's first two characters) the shuffle computes from each record,
 * inside the timed run; (2) per partition an ORDER BY that writes a raw record file. Then a
 * valsort-like check (global order across partitions, record count, checksum) and, in the same
 * run, DuckDB alone sorting the same records in one query with the same threads and memory.
 *
 * What each side does, timed from the first read of the input to the last record written:
 * - smallpond: read the Parquet input (only `rec`: no precomputed bucket), compute each record's
 *   bucket and write it to its range partition, then sort each partition into `part-K.dat`; the
 *   tasks take DuckDB instances from smallpond's per-process pool (warm after earlier tasks and
 *   rounds, object cache on).
 * - DuckDB alone: `copy (select rec from read_parquet(...) order by rec) to 'out.dat'` on one
 *   long-lived instance with the same settings a pooled instance gets (threads, memory_limit,
 *   preserve_insertion_order = false, enable_object_cache = true, temp directory), warmed before
 *   round 1 by an untimed run of the same sort, so its best time is always a warm one. Its single
 *   global sort needs no buckets: they exist only to split smallpond's sort into partitions.
 * Both outputs get the same check (framing, global order, record count, checksum against the
 * input), and `validated` is true only when every round of both sides passed it.
 *
 *   npm run bench:graysort -- --size 2147483648 [--partitions 16] [--dir /tmp] [--keep] [--actors]
 *   npm run bench:graysort -- --on t3fs [--mount /path/to/mnt] [--size 536870912]
 *
 * `--on t3fs` puts everything on t3fs: the generated input, smallpond's data root (its shuffle
 * files), the sorted output, and DuckDB alone's temp directory and output file. Both phases of
 * both sides then read and write through the FUSE mount of a dev cluster (npm start's profiles:
 * three storage nodes, chains of three replicas) that the bench starts in a temp dir (root and
 * /dev/fuse), or of an existing mount given by `--mount`. Validation reads the outputs back
 * through the mount. The JSON line carries `"on":"t3fs"`; `vs_duckdb_alone` compares with DuckDB
 * alone sorting the same records from and to the same mount.
 *
 * `--actors` runs the tasks as task actors on the worker hosts of a NodeRuntime (one host per
 * thread); by default they run in-process with the same scheduler.
 *
 * Records are our own generator's ASCII variant of the gensort format (like `gensort -a`): a key of
 * 10 printable characters (alphabet without `"` and `,`), two spaces, the record number in 32 hex
 * digits, two spaces, 53 filler characters and '\n' — 100 bytes. DuckDB has no raw binary writer,
 * but it writes these records byte-exact as one-column CSV, so both phases stay inside DuckDB.
 * Generation is not timed (as in 3FS's published figure); validation is not timed.
 *
 * The machine is shared, so load drifts during a run: with `--rounds N` (default 2) both sorts run N
 * times, alternating which goes first, and each side reports its best time. Every round of each side
 * is validated.
 *
 * Progress goes to stderr (runtime/progress; T3FS_PROGRESS=0 turns it off): each phase (generation
 * by files, the input checksum, DuckDB alone's warm-up and sorts, validation by files) on the
 * graysort line, and smallpond's own line during its sort (tasks, and per stage the partitions
 * done: the shuffle's producers, then the 2^k sort partitions). Stdout ends with the JSON line.
 */
import { mkdir, open, rm, stat } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import * as smallpond from '../actors/smallpond/index.ts'
import { NodeRuntime } from '../runtime/node-runtime.ts'
import { mountsAt } from '../runtime/fuse-device.ts'
import { mountSkipReason, startDevCluster, type DevCluster } from '../test/support/dev-cluster.ts'
import { Progress, type ProgressUpdate } from '../runtime/progress/progress.ts'

const RECORD_BYTES = 100
const KEY_BYTES = 10
const ALPHABET = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)).filter((c) => c !== '"' && c !== ',').join('')
const A = ALPHABET.length
const MIB = 1 << 20

interface Options {
  sizeBytes: number
  partitions: number
  dataFiles: number
  dir: string
  keep: boolean
  threads: number
  memoryBytes: number
  actors: boolean
  rounds: number
  /** 'local' (the --dir path) or 't3fs' (a dev cluster's mount, or --mount). */
  on: 'local' | 't3fs'
  mount: string | undefined
}

function fail(message: string): never {
  process.stderr.write(`graysort: ${message}\n`)
  process.exit(2)
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: String(256 * MIB) },
      partitions: { type: 'string' },
      'data-files': { type: 'string', default: '8' },
      dir: { type: 'string', default: tmpdir() },
      keep: { type: 'boolean', default: false },
      threads: { type: 'string', default: String(Math.max(1, Math.min(2, availableParallelism()))) },
      memory: { type: 'string', default: String(8 * 1024 * MIB) },
      actors: { type: 'boolean', default: false },
      rounds: { type: 'string', default: '2' },
      on: { type: 'string', default: 'local' },
      mount: { type: 'string' },
    },
  })
  const sizeBytes = Number(values.size)
  if (!Number.isInteger(sizeBytes) || sizeBytes < RECORD_BYTES * 1000 || sizeBytes > 2 ** 40) {
    fail(`--size is ${values.size}; accepted: bytes from ${RECORD_BYTES * 1000} to 2^40`)
  }
  // Partitions of ~128 MiB, rounded up to a power of two (the bucket is a key prefix).
  const wanted = values.partitions === undefined ? Math.max(4, Math.ceil(sizeBytes / (128 * MIB))) : Number(values.partitions)
  if (!Number.isInteger(wanted) || wanted < 1 || wanted > 4096) fail(`--partitions is ${values.partitions}; accepted: 1..4096`)
  const partitions = 2 ** Math.ceil(Math.log2(wanted))
  const dataFiles = Number(values['data-files'])
  if (!Number.isInteger(dataFiles) || dataFiles < 1 || dataFiles > 1024) fail(`--data-files is ${values['data-files']}; accepted: 1..1024`)
  const threads = Number(values.threads)
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) fail(`--threads is ${values.threads}; accepted: 1..256`)
  const memoryBytes = Number(values.memory)
  if (!Number.isInteger(memoryBytes) || memoryBytes < 256 * MIB) fail(`--memory is ${values.memory}; accepted: bytes >= 256 MiB`)
  const rounds = Number(values.rounds)
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 10) fail(`--rounds is ${values.rounds}; accepted: 1..10`)
  const on = values.on
  if (on !== 'local' && on !== 't3fs') fail(`--on is ${on}; accepted: local | t3fs`)
  if (values.mount !== undefined && on !== 't3fs') fail(`--mount is ${values.mount}; accepted only with --on t3fs`)
  return { sizeBytes, partitions, dataFiles, dir: values.dir!, keep: values.keep!, threads, memoryBytes, actors: values.actors!, rounds, on, mount: values.mount }
}

/** SQL for key character j of record i: two 64-bit hashes give 5 base-A digits each. */
function keyExpression(seed: number): string {
  const chars: string[] = []
  for (let j = 0; j < KEY_BYTES; j++) {
    const h = `hash(i, ${seed + (j < 5 ? 0 : 1)})`
    const digit = `((${h} // ${BigInt(A) ** BigInt(j % 5)}::UBIGINT) % ${A})`
    chars.push(`substr('${ALPHABET.replace(/'/g, "''")}', 1 + ${digit}::INTEGER, 1)`)
  }
  return chars.join(' || ')
}

/** The bucket is a monotone function of the first two key characters: a range partition. */
function bucketExpression(partitions: number): string {
  const rank = (pos: number) => `(instr('${ALPHABET.replace(/'/g, "''")}', substr(rec, ${pos}, 1)) - 1)`
  return `((${rank(1)} * ${A} + ${rank(2)}) * ${partitions} // ${A * A})::USMALLINT`
}

async function generate(conn: DuckDBConnection, o: Options, inputDir: string, update: (u: ProgressUpdate) => void): Promise<number> {
  const records = Math.floor(o.sizeBytes / RECORD_BYTES)
  await mkdir(inputDir, { recursive: true })
  const per = Math.ceil(records / o.dataFiles)
  for (let f = 0; f < o.dataFiles; f++) {
    const begin = f * per
    const end = Math.min(records, begin + per)
    if (begin >= end) break
    await conn.run(`copy (
        select ${keyExpression(20250227)} || '  ' || printf('%032X', i) || '  ' || repeat(chr(65 + (i % 26)::INTEGER), 53) as rec
        from range(${begin}, ${end}) t(i)
      ) to '${join(inputDir, `data-${String(f).padStart(4, '0')}.parquet`)}' (format parquet, compression uncompressed)`)
    update({ done: f + 1 })
  }
  return records
}

async function checksum(conn: DuckDBConnection, from: string): Promise<{ count: bigint; sum: string }> {
  const reader = await conn.runAndReadAll(`select count(*), sum(hash(rec))::VARCHAR from ${from}`)
  const [count, sum] = reader.getRowsJS()[0]
  return { count: BigInt(count as bigint), sum: String(sum) }
}

function rawRecords(files: readonly string[]): string {
  return `read_csv([${files.map((f) => `'${f}'`).join(', ')}], columns={'rec': 'VARCHAR'}, header=false, delim='\u0001', quote='', escape='', auto_detect=false)`
}

/** valsort's checks that need the raw bytes: record framing and global key order across files. */
async function checkOrder(files: readonly string[], update: (u: ProgressUpdate) => void): Promise<{ records: number; ordered: boolean; framed: boolean }> {
  const chunk = Buffer.allocUnsafe(RECORD_BYTES * 655_360)
  let prev = Buffer.alloc(KEY_BYTES, 0)
  const current = Buffer.alloc(KEY_BYTES)
  let records = 0
  let ordered = true
  let framed = true
  for (const [index, file] of files.entries()) {
    const size = (await stat(file)).size
    if (size % RECORD_BYTES !== 0) framed = false
    const handle = await open(file, 'r')
    try {
      for (let offset = 0; offset < size;) {
        const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, size - offset), offset)
        if (bytesRead === 0) break
        for (let at = 0; at + RECORD_BYTES <= bytesRead; at += RECORD_BYTES) {
          if (chunk[at + RECORD_BYTES - 1] !== 0x0a) framed = false
          chunk.copy(current, 0, at, at + KEY_BYTES)
          if (Buffer.compare(prev, current) > 0) ordered = false
          current.copy(prev)
          records++
        }
        offset += bytesRead
      }
    } finally {
      await handle.close()
    }
    prev = Buffer.from(prev)
    update({ done: index + 1 })
  }
  return { records, ordered, framed }
}

async function runSmallpond(o: Options, inputDir: string, outDir: string, dataRoot: string): Promise<{ seconds: number; files: string[] }> {
  await mkdir(outDir, { recursive: true })
  const runtime = o.actors ? await NodeRuntime.start({ hostsPerDomain: o.threads, domains: [{ id: 0, cpus: Array.from({ length: availableParallelism() }, (_, i) => i) }] }) : undefined
  const sp = await smallpond.init({
    dataRoot, numExecutors: o.threads, threadsPerTask: 1, memoryPerTaskBytes: Math.floor(o.memoryBytes / o.threads),
    progress: true,
  }, { runtime })
  const started = performance.now()
  // The shuffle computes each record's range bucket itself (`by` takes an expression); the
  // dimension is named so the sort can write part-{buckets}.dat.
  const shuffled = sp.readParquet(join(inputDir, '*.parquet'))
    .repartition(o.partitions, { by: bucketExpression(o.partitions), dimension: 'buckets', parquetCompression: 'uncompressed' })
  const sorted = sp.partialSql(
    `copy (select rec from {0} order by rec) to '${outDir}/part-{buckets}.dat' (format csv, header false, quote '', escape '')`,
    shuffled, { materializeOutput: false })
  await sorted.compute()
  const seconds = (performance.now() - started) / 1000
  await sp.shutdown()
  await runtime?.shutdown()
  return { seconds, files: Array.from({ length: o.partitions }, (_, i) => join(outDir, `part-${i}.dat`)) }
}

interface DuckDbAlone {
  /** One timed sort of the input into `outFile`; returns seconds. */
  sort(outFile: string): Promise<number>
  close(): void
}

/**
 * DuckDB alone on one instance kept for the whole run, set up as smallpond sets up a pooled task
 * instance (execution/duckdb.ts), and warmed by an untimed sort so the allocator already holds
 * the memory a sort touches (first touch of fresh memory is slow on this VM).
 */
async function openDuckDbAlone(o: Options, inputDir: string, warmFile: string, tempDir: string): Promise<DuckDbAlone> {
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  const query = (outFile: string) => `copy (select rec from read_parquet('${join(inputDir, '*.parquet')}') order by rec) to '${outFile}' (format csv, header false, quote '', escape '')`
  try {
    await conn.run(`SET threads = ${o.threads}; SET memory_limit = '${Math.floor(o.memoryBytes / MIB)}MiB'; SET preserve_insertion_order = false; ` +
      `SET temp_directory = '${tempDir}'; SET enable_object_cache = true`)
    await conn.run(query(warmFile))
    await rm(warmFile, { force: true })
  } catch (error) {
    conn.closeSync()
    db.closeSync()
    throw error
  }
  return {
    async sort(outFile) {
      const started = performance.now()
      await conn.run(query(outFile))
      return (performance.now() - started) / 1000
    },
    close() {
      conn.closeSync()
      db.closeSync()
    },
  }
}

/**
 * Where the run's files live: `--dir` locally; on t3fs the given `--mount` (checked to be a t3fs
 * FUSE mount) or the mount of a dev cluster started here and stopped at the end.
 */
async function workRoot(o: Options, log: (line: string) => void): Promise<{ root: string; cluster: DevCluster | null }> {
  if (o.on === 'local') return { root: o.dir, cluster: null }
  if (o.mount !== undefined) {
    const mount = resolve(o.mount)
    const entries = await mountsAt(mount)
    if (!entries.some((e) => e.source.startsWith('t3fs.') || e.type.endsWith('.t3fs'))) {
      fail(`--mount is ${o.mount}; accepted: the mount point of a t3fs FUSE mount (found ${entries.map((e) => `${e.type} ${e.source}`).join(', ') || 'no mount there'})`)
    }
    return { root: mount, cluster: null }
  }
  const skip = mountSkipReason()
  if (skip !== null) fail(`--on t3fs starts a dev cluster and mounts it, which ${skip}; or pass --mount <an existing t3fs mount>`)
  log('starting a dev cluster (3 storage nodes, chains of 3 replicas) and its FUSE mount')
  const cluster = await startDevCluster()
  log(`t3fs mounted at ${cluster.mnt}`)
  return { root: cluster.mnt, cluster }
}

async function main(): Promise<void> {
  const o = parseOptions()
  const progress = new Progress({ label: 'graysort' })
  const log = (line: string) => progress.log(`graysort: ${line}`)
  const { root, cluster } = await workRoot(o, log)
  try {
    await runBench(o, root, log, progress)
  } finally {
    await cluster?.close()
  }
}

async function runBench(o: Options, root: string, log: (line: string) => void, progress: Progress): Promise<void> {
  const work = join(root, `graysort-${process.pid}`)
  const inputDir = join(work, 'input')
  const outDir = join(work, 'sorted')
  const aloneFile = join(work, 'duckdb-alone.dat')
  await rm(work, { recursive: true, force: true })
  await mkdir(work, { recursive: true })
  const db = await DuckDBInstance.create(':memory:', { threads: String(o.threads), memory_limit: `${Math.floor(o.memoryBytes / MIB)}MiB` })
  const conn = await db.connect()
  try {
    log(`generating ${o.sizeBytes} bytes into ${o.dataFiles} files, ${o.partitions} sort partitions, ${o.threads} threads`)
    const records = await progress.run('generate input', (update) => generate(conn, o, inputDir, update), { total: o.dataFiles, unit: 'files' })
    const bytes = records * RECORD_BYTES
    const input = await progress.run('checksum input', () => checksum(conn, `read_parquet('${join(inputDir, '*.parquet')}')`))

    let oursSeconds = Infinity
    let aloneSeconds = Infinity
    let validated = true
    /** The same valsort-like check for both sides' output; a failure marks the whole run. */
    const validate = async (round: number, side: string, files: string[]): Promise<void> => {
      const { order, output } = await progress.run(`round ${round}/${o.rounds}: validate ${side}`, async (update) => {
        const order = await checkOrder(files, update)
        update({ detail: 'order checked; checksum' })
        return { order, output: await checksum(conn, rawRecords(files)) }
      }, { total: files.length, unit: 'files' })
      const ok = order.ordered && order.framed && order.records === records && output.count === input.count && output.sum === input.sum
      if (!ok) log(`${side}: validation failed: ${JSON.stringify({ ...order, expectedRecords: records, input: { ...input, count: String(input.count) }, output: { ...output, count: String(output.count) } })}`)
      validated &&= ok
    }
    const smallpondRound = async (round: number): Promise<void> => {
      log(`round ${round}/${o.rounds}: smallpond two-phase sort (shuffle into ${o.partitions} partitions, then a sort per partition)`)
      const ours = await runSmallpond(o, inputDir, outDir, join(work, `data-${round}`))
      log(`round ${round}/${o.rounds}: smallpond ${ours.seconds.toFixed(2)} s`)
      await validate(round, 'smallpond', ours.files)
      oursSeconds = Math.min(oursSeconds, ours.seconds)
      await rm(outDir, { recursive: true, force: true })
    }
    const alone = await progress.run('DuckDB alone: warm-up sort (untimed)', () => openDuckDbAlone(o, inputDir, aloneFile, join(work, 'duckdb-alone-tmp')))
    const aloneRound = async (round: number): Promise<void> => {
      const seconds = await progress.run(`round ${round}/${o.rounds}: DuckDB alone sort (one query)`, () => alone.sort(aloneFile))
      log(`round ${round}/${o.rounds}: DuckDB alone ${seconds.toFixed(2)} s`)
      await validate(round, 'DuckDB alone', [aloneFile])
      aloneSeconds = Math.min(aloneSeconds, seconds)
      await rm(aloneFile, { force: true })
    }
    try {
      for (let round = 1; round <= o.rounds; round++) {
        if (round % 2 === 1) { await smallpondRound(round); await aloneRound(round) } else { await aloneRound(round); await smallpondRound(round) }
      }
    } finally {
      alone.close()
    }
    const ours = { seconds: oursSeconds }

    const mibPerS = bytes / MIB / ours.seconds
    const aloneMibPerS = bytes / MIB / aloneSeconds
    console.log(JSON.stringify({
      bench: 'graysort', on: o.on, bytes, seconds: Number(ours.seconds.toFixed(3)), mib_per_s: Number(mibPerS.toFixed(1)),
      duckdb_alone_mib_per_s: Number(aloneMibPerS.toFixed(1)), vs_duckdb_alone: Number((mibPerS / aloneMibPerS).toFixed(3)),
      validated, partitions: o.partitions, threads: o.threads, actors: o.actors, rounds: o.rounds, duckdb_alone_seconds: Number(aloneSeconds.toFixed(3)),
    }))
    if (!validated) process.exitCode = 1
  } finally {
    conn.closeSync()
    db.closeSync()
    if (!o.keep) await rm(work, { recursive: true, force: true })
  }
}

await main()
