/**
 * The FUSE mount as a user's tools see it, on the dev cluster of `npm start` (three storage nodes,
 * chains of three, two meta servers): cp, mv, ln, ln -s, chmod, truncate, append, sparse files,
 * deep and wide directories, renames across directories, rm -r, unlink while open, concurrent
 * writers on different files, fio with --verify=crc32c, and the revalidator between this mount and
 * another client. Every check compares with what the same tool does (or what POSIX says), reading
 * back through the mount.
 */
import t from 'tap'
import { execFile, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { appendFile, lstat, mkdir, open, readdir, readFile, readlink, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { connectFileClient } from '../../../../actors/client/client-node.ts'
import { DEFAULT_FUSE_CONFIG } from '../../../../actors/client/fuse/config.ts'
import { mountSkipReason, reportClusterOnFailure, startDevCluster, type DevCluster } from '../../../support/dev-cluster.ts'

const run = promisify(execFile)
const sh = (script: string, cwd: string) => run('sh', ['-c', script], { cwd, maxBuffer: 16 * 1024 * 1024 })
const skip = mountSkipReason()
if (skip !== null) t.comment(`skipping tests through the FUSE mount: ${skip}`)
const fio = spawnSync('fio', ['--version'], { stdio: 'ignore' }).status === 0
const MiB = 1024 * 1024
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

let cluster: DevCluster | null = null
const mnt = (): string => cluster!.mnt
t.before(async () => {
  if (skip === null) cluster = await startDevCluster()
})
reportClusterOnFailure(t, () => cluster)
t.teardown(async () => {
  await cluster?.close()
})
const opts = { skip: skip ?? false }

t.test('cp, cp -r, mv, ln and ln -s keep contents and names', opts, async (t) => {
  const src = join(cluster!.dir, 'src.bin')
  const data = randomBytes(5 * MiB + 777)
  writeFileSync(src, data)
  const d = join(mnt(), 'tools')
  await mkdir(d)
  await run('cp', [src, join(d, 'a.bin')])
  t.equal(sha(await readFile(join(d, 'a.bin'))), sha(data), 'cp into the mount')
  await run('cp', [join(d, 'a.bin'), join(d, 'b.bin')])
  t.equal(sha(await readFile(join(d, 'b.bin'))), sha(data), 'cp within the mount')
  await run('cp', ['-r', d, join(mnt(), 'tools-copy')])
  t.same((await readdir(join(mnt(), 'tools-copy'))).sort(), ['a.bin', 'b.bin'], 'cp -r')
  await run('mv', [join(d, 'b.bin'), join(d, 'c.bin')])
  t.same((await readdir(d)).sort(), ['a.bin', 'c.bin'], 'mv renames')
  await run('ln', [join(d, 'a.bin'), join(d, 'hard')])
  t.equal((await stat(join(d, 'a.bin'))).nlink, 2, 'ln: two links')
  t.equal((await stat(join(d, 'hard'))).ino, (await stat(join(d, 'a.bin'))).ino, 'one inode')
  await run('ln', ['-s', 'a.bin', join(d, 'soft')])
  t.equal(await readlink(join(d, 'soft')), 'a.bin', 'ln -s stores the target')
  t.ok((await lstat(join(d, 'soft'))).isSymbolicLink())
  t.equal(sha(await readFile(join(d, 'soft'))), sha(data), 'the symlink resolves')
  await unlink(join(d, 'a.bin'))
  t.equal(sha(await readFile(join(d, 'hard'))), sha(data), 'the other link keeps the data')
  await t.rejects(readFile(join(d, 'soft')), { code: 'ENOENT' }, 'a dangling symlink')
  const { stdout } = await run('cmp', [src, join(mnt(), 'tools-copy/a.bin')])
  t.equal(stdout, '', 'cmp finds no difference')
})

t.test('chmod, truncate, append and sparse files', opts, async (t) => {
  const f = join(mnt(), 'attrs.txt')
  await writeFile(f, 'hello\n')
  await run('chmod', ['640', f])
  t.equal((await stat(f)).mode & 0o777, 0o640, 'chmod')
  await run('chmod', ['u+x,o+r', f])
  t.equal((await stat(f)).mode & 0o777, 0o744)
  await sh(`echo world >> ${f}; printf 'again' >> ${f}`, mnt())
  t.equal(await readFile(f, 'utf8'), 'hello\nworld\nagain', 'append with >>')
  await appendFile(f, '!')
  t.equal((await stat(f)).size, 18, 'appendFile')
  await run('truncate', ['-s', '5', f])
  t.equal(await readFile(f, 'utf8'), 'hello', 'truncate shrinks')
  await run('truncate', ['-s', '3M', f])
  const grown = await readFile(f)
  t.equal(grown.length, 3 * MiB, 'truncate grows')
  t.ok(grown.subarray(5).every((b) => b === 0), 'with zeros')

  // Sparse: a byte far past the end, across chunk (1 MiB) and stripe boundaries.
  const s = join(mnt(), 'sparse.bin')
  await run('dd', ['if=/dev/urandom', `of=${s}`, 'bs=4096', 'count=1', 'seek=5000', 'status=none'])
  const st = await stat(s)
  t.equal(st.size, 5001 * 4096, 'size after a write past the end')
  const h = await open(s, 'r')
  const hole = Buffer.alloc(MiB)
  await h.read(hole, 0, MiB, 7 * MiB)
  await h.close()
  t.ok(hole.every((b) => b === 0), 'the hole reads as zeros')
  const tail = randomBytes(4096)
  const w = await open(s, 'r+')
  await w.write(tail, 0, 4096, 3 * MiB + 123)
  await w.close()
  const back = Buffer.alloc(4096)
  const r = await open(s, 'r')
  await r.read(back, 0, 4096, 3 * MiB + 123)
  await r.close()
  t.ok(back.equals(tail), 'a write into the hole reads back')
})

t.test('deep and wide directories, renames across directories, rm -r', opts, async (t) => {
  const deep = Array.from({ length: 24 }, (_, i) => `d${i}`).join('/')
  await run('mkdir', ['-p', join(mnt(), 'deep', deep)])
  await writeFile(join(mnt(), 'deep', deep, 'leaf'), 'bottom')
  t.equal(await readFile(join(mnt(), 'deep', deep, 'leaf'), 'utf8'), 'bottom', '24 levels down')
  t.match((await run('find', [join(mnt(), 'deep'), '-name', 'leaf'])).stdout, /d23\/leaf/)

  const wide = join(mnt(), 'wide')
  await mkdir(wide)
  await sh('for i in $(seq 1 400); do echo $i > f$i; done', wide)
  const names = await readdir(wide)
  t.equal(names.length, 400, '400 entries listed')
  t.equal((await run('ls', ['-1', wide])).stdout.trim().split('\n').length, 400, 'ls lists them all')
  t.equal(await readFile(join(wide, 'f397'), 'utf8'), '397\n')

  await mkdir(join(mnt(), 'other'))
  await rename(join(wide, 'f1'), join(mnt(), 'other', 'moved'))
  await run('mv', [join(mnt(), 'deep', deep, 'leaf'), join(mnt(), 'other', 'leaf')])
  await run('mv', [join(mnt(), 'deep', 'd0', 'd1'), join(mnt(), 'other', 'subtree')])
  t.same((await readdir(join(mnt(), 'other'))).sort(), ['leaf', 'moved', 'subtree'], 'renames across directories')
  t.equal(await readFile(join(mnt(), 'other', 'moved'), 'utf8'), '1\n')
  t.ok((await stat(join(mnt(), 'other', 'subtree', 'd2', 'd3'))).isDirectory(), 'a directory moved with its tree')
  await t.rejects(stat(join(wide, 'f1')), { code: 'ENOENT' })
  // rename over an existing file replaces it; a directory onto a non-empty one is refused
  await rename(join(wide, 'f2'), join(wide, 'f3'))
  t.equal(await readFile(join(wide, 'f3'), 'utf8'), '2\n', 'rename replaces the target')
  await t.rejects(rename(join(mnt(), 'other'), join(mnt(), 'deep')), { code: 'ENOTEMPTY' })

  await run('rm', ['-r', wide, join(mnt(), 'deep'), join(mnt(), 'other')])
  const left = await readdir(mnt())
  t.notOk(left.includes('wide') || left.includes('deep') || left.includes('other'), 'rm -r removed the trees')
  await t.rejects(readdir(wide), { code: 'ENOENT' })
})

t.test('a file unlinked while open keeps working until it is closed', opts, async (t) => {
  const f = join(mnt(), 'doomed.bin')
  const data = randomBytes(2 * MiB + 5)
  await writeFile(f, data)
  const h = await open(f, 'r+')
  await unlink(f)
  await t.rejects(stat(f), { code: 'ENOENT' }, 'the name is gone')
  const back = Buffer.alloc(data.length)
  await h.read(back, 0, data.length, 0)
  t.ok(back.equals(data), 'reads through the open handle')
  const more = randomBytes(MiB)
  await h.write(more, 0, more.length, data.length)
  t.equal((await h.stat()).size, data.length + MiB, 'writes through it too')
  const tail = Buffer.alloc(MiB)
  await h.read(tail, 0, MiB, data.length)
  t.ok(tail.equals(more))
  await h.close()
  t.notOk((await readdir(mnt())).includes('doomed.bin'))
})

t.test('concurrent writers on different files', opts, async (t) => {
  const dir = join(mnt(), 'concurrent')
  await mkdir(dir)
  const writers = 6
  const seeds = Array.from({ length: writers }, () => randomBytes(3 * MiB + 4097))
  // Separate processes (dd) writing at once, each its own file, in 256 KiB blocks.
  await Promise.all(seeds.map((d, i) => {
    const src = join(cluster!.dir, `w${i}`)
    writeFileSync(src, d)
    return run('dd', [`if=${src}`, `of=${join(dir, `w${i}`)}`, 'bs=256K', 'status=none'])
  }))
  for (let i = 0; i < writers; i++) t.equal(sha(readFileSync(join(dir, `w${i}`))), sha(seeds[i]!), `writer ${i}'s file`)
})

t.test('fio --verify=crc32c on the mount', { skip: skip ?? (fio ? false : 'fio is not installed (apt-get install fio)') }, async (t) => {
  const dir = join(mnt(), 'fio')
  await mkdir(dir)
  const common = [`--directory=${dir}`, '--ioengine=psync', '--verify=crc32c', '--do_verify=1', '--verify_fatal=1', '--verify_state_save=0', '--output-format=json']
  // Sequential 1 MiB writes by two jobs, verified as written; then random 64 KiB writes verified after.
  const seq = await run('fio', ['--name=seq', '--rw=write', '--bs=1M', '--size=24M', '--numjobs=2', ...common], { maxBuffer: 16 * MiB })
  const s = JSON.parse(seq.stdout) as { jobs: { error: number; write: { io_bytes: number } }[] }
  t.ok(s.jobs.every((j) => j.error === 0), 'sequential jobs verified without error')
  t.equal(s.jobs.reduce((a, j) => a + j.write.io_bytes, 0), 48 * MiB)
  const rnd = await run('fio', ['--name=rnd', '--rw=randwrite', '--bs=64k', '--size=8M', '--numjobs=1', '--verify_backlog=32', ...common], { maxBuffer: 16 * MiB })
  const r = JSON.parse(rnd.stdout) as { jobs: { error: number }[] }
  t.ok(r.jobs.every((j) => j.error === 0), 'random writes verified without error')
})

/** FUSE requests the mount answered so far, per opcode (its /metrics). */
async function requestsByOp(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${cluster!.metricsPort}/metrics`)).text()
  const byOp = new Map<string, number>()
  for (const m of text.matchAll(/^t3fs_fuse_requests_total\{op="([A-Z_]+)",result="[^"]*"\} (\d+)/gm)) byOp.set(m[1]!, (byOp.get(m[1]!) ?? 0) + Number(m[2]))
  return byOp
}

t.test('set-user-ID and set-group-ID drop on write, truncate and chown; writes ask no GETXATTR each', opts, async (t) => {
  const dir = join(mnt(), 'privs')
  await mkdir(dir)
  // Another user must reach it: the cluster's temp dir is private (0700), the mount's root 0755.
  await run('chmod', ['711', cluster!.dir])
  await run('chmod', ['1777', dir])
  // The mount kills the bits itself (HANDLE_KILLPRIV_V2), as the kernel does for local files.
  const asNobody = (...cmd: string[]) => run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...cmd])
  const modeOf = async (f: string) => (await stat(f)).mode & 0o7777
  const w = join(dir, 'written')
  await writeFile(w, 'x')
  await run('chmod', ['6777', w])
  await asNobody('dd', 'if=/dev/zero', `of=${w}`, 'bs=4096', 'count=1', 'conv=notrunc', 'status=none')
  t.equal(await modeOf(w), 0o777, 'a write by a caller without CAP_FSETID drops both (group may execute)')
  await run('chmod', ['6767', w])
  await asNobody('dd', 'if=/dev/zero', `of=${w}`, 'bs=4096', 'count=1', 'conv=notrunc', 'status=none')
  t.equal(await modeOf(w), 0o2767, 'S_ISGID without group execute stays')
  await run('chmod', ['4777', w])
  await run('dd', ['if=/dev/zero', `of=${w}`, 'bs=4096', 'count=1', 'conv=notrunc', 'status=none'])
  t.equal(await modeOf(w), 0o4777, 'a write by root (CAP_FSETID) keeps S_ISUID')
  await asNobody('truncate', '-s', '100', w)
  t.equal(await modeOf(w), 0o777, 'a truncate by a caller without CAP_FSETID drops it')
  await run('chmod', ['6755', w])
  await run('chown', ['65534', w])
  t.equal(await modeOf(w), 0o755, 'chown drops both')
  t.equal((await stat(w)).uid, 65534)
  await run('chmod', ['4777', w])
  await asNobody('sh', '-c', `: > ${w}`)
  t.equal(await modeOf(w), 0o777, 'an O_TRUNC open by a caller without CAP_FSETID drops it')
  t.equal((await stat(w)).size, 0)

  const seq = join(dir, 'seq.bin')
  const before = (await requestsByOp()).get('GETXATTR') ?? 0
  await run('dd', ['if=/dev/zero', `of=${seq}`, 'bs=1M', 'count=32', 'status=none'])
  await asNobody('dd', 'if=/dev/zero', `of=${join(dir, 'seq-nobody.bin')}`, 'bs=1M', 'count=32', 'status=none')
  const asked = ((await requestsByOp()).get('GETXATTR') ?? 0) - before
  t.ok(asked <= 4, `64 writes of 1 MiB asked ${asked} GETXATTR (at most one per file after its attributes change)`)
  t.equal((await stat(seq)).size, 32 * MiB)
})

t.test('1 MiB WRITEs go to storage from their request slots, uncopied, and read back exactly', opts, async (t) => {
  type ClientCounters = { bytesWritten: number; lentBytesWritten: number }
  const counters = async (): Promise<ClientCounters> => ((await cluster!.status()) as { fuse: { client: ClientCounters } }).fuse.client
  const src = join(cluster!.dir, 'lent-src.bin')
  const data = randomBytes(48 * MiB)
  writeFileSync(src, data)
  const dir = join(mnt(), 'lent')
  await mkdir(dir)
  const before = await counters()
  // Three writers at once, so WRITEs arrive in many slots and slots are reused while others' bytes travel.
  await Promise.all([0, 1, 2].map((i) => run('dd', [`if=${src}`, `of=${join(dir, `w${i}`)}`, 'bs=1M', 'conv=fsync', 'status=none'])))
  const after = await counters()
  const lent = after.lentBytesWritten - before.lentBytesWritten
  t.ok(lent > 0, `${lent / MiB} of ${(after.bytesWritten - before.bytesWritten) / MiB} MiB written went from the request slots (the first WRITE into each slot is copied while it registers)`)
  await run('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches'])
  for (const i of [0, 1, 2]) t.equal(sha(await readFile(join(dir, `w${i}`))), sha(data), `w${i} reads back exactly`)
})

t.test("the revalidator: this mount's own writes keep the kernel's pages, another client's change reaches the kernel", opts, async (t) => {
  type FuseCounters = { notifications: number; pageCacheDrops: number; revalidations: number; openHandles: number; knownNodes: number }
  const counters = async (): Promise<FuseCounters> => ((await cluster!.status()) as { fuse: FuseCounters }).fuse
  /**
   * Waits (polling every 200 ms, at most 300 times) for the kernel's RELEASE of every handle (it
   * does not wait for its answer), then for a whole pass over the inode table after that: a round
   * checks revalidate_batch nodes (DEFAULT_FUSE_CONFIG.revalidateBatch), and the table still holds
   * the earlier tests' nodes until the kernel forgets them, so a pass can take more than one round.
   * One round more, as the round under way at the release may have read its batch before it.
   */
  const afterFullRound = async (): Promise<FuseCounters> => {
    let from: { revalidations: number; rounds: number } | null = null
    for (let i = 0; i < 300; i++) {
      const c = await counters()
      if (from === null && c.openHandles === 0) from = { revalidations: c.revalidations, rounds: 1 + Math.max(1, Math.ceil(c.knownNodes / DEFAULT_FUSE_CONFIG.revalidateBatch)) }
      if (from !== null && c.revalidations >= from.revalidations + from.rounds) return c
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    throw new Error(`the mount's revalidator made no whole pass after every handle was released (from ${JSON.stringify(from)})`)
  }
  const dir = join(mnt(), 'reval')
  await mkdir(dir)
  const file = join(dir, 'own')
  const mine = randomBytes(2 * MiB)
  const before = await counters()
  await writeFile(file, mine)
  // Its length and mtime moved since CREATE told the kernel: a round says so, attributes only.
  const told = await afterFullRound()
  t.ok(told.notifications > before.notifications, 'the written file (and its directory) were revalidated')
  t.equal(told.pageCacheDrops, before.pageCacheDrops, "the mount's own write dropped no cached pages")

  const other = await connectFileClient({ mgmtd: `127.0.0.1:${cluster!.port}`, mgmtdNode: 1, clusterId: 't3fs', clientNode: 61_000 })
  t.teardown(() => other.shutdown())
  const theirs = randomBytes(MiB)
  const h = await other.open('/reval/own', { access: 'readwrite' })
  await other.write(h, theirs, mine.length)
  await other.close(h)
  const dropped = await afterFullRound()
  t.equal(dropped.pageCacheDrops, told.pageCacheDrops + 1, "another client's append drops the file's cached pages")
  t.equal((await stat(file)).size, mine.length + theirs.length, 'the kernel sees the new length')
  t.equal(sha(await readFile(file)), sha(Buffer.concat([mine, theirs])), "and reads both writers' bytes through the mount")
})
