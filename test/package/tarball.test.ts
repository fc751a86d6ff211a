/**
 * The package as a user gets it: `npm pack` (its prepare step compiles a copy of this tree), the
 * tarball installed into an empty project, and plain `node` (no tsx, no TypeScript installed, no
 * NODE_OPTIONS) running the README's quick start, the CLI, a node with its actors, and worker hosts
 * and piscina workers from the compiled files. Then TypeScript and `tsc --strict` on the README's
 * code against the installed declarations.
 *
 * Slow (a build, an npm install from the npm cache, a cargo build): one file of its own.
 */
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compiledModule, runningCompiled, siblingModule } from '../../runtime/module-url.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string; files: string[] }
const readme = readFileSync(join(repo, 'README.md'), 'utf8')
const work = mkdtempSync(join(tmpdir(), 't3fs-package-'))
const app = join(work, 'app')
t.teardown(() => rmSync(work, { recursive: true, force: true }))

/** The environment of a user's shell: none of npm's or tap's variables, no loader in NODE_OPTIONS. */
const userEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^(npm_|NODE_OPTIONS$|INIT_CWD$|T3FS_|TAP)/i.test(key)),
)

interface Ran { code: number | null; stdout: string; stderr: string }
const commandTimeoutMs = 240_000

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Ran> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? userEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  return collect(child)
}

function collect(child: ChildProcess): Promise<Ran> {
  const killer = setTimeout(() => child.kill('SIGKILL'), commandTimeoutMs)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(killer)
    resolve({ code, stdout, stderr })
  }))
}

/** Asserts exit code 0; the output's tail goes into the report only when it is not. */
function succeeded(t: Test, ran: Ran, what: string): void {
  if (ran.code !== 0) t.comment(`${what}:\n${(ran.stdout + ran.stderr).slice(-4000)}`)
  t.equal(ran.code, 0, what)
}

const npm = (args: string[], cwd: string) => run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd })
const node = (args: string[], env: NodeJS.ProcessEnv = userEnv) => run(process.execPath, args, { cwd: app, env })

/** The fenced block of README.md in `lang` that contains `marker`, verbatim. */
function readmeBlock(lang: string, marker: string): string {
  for (const [, l, body] of readme.matchAll(/```(\w*)\n([\s\S]*?)```/g)) if (l === lang && body.includes(marker)) return body
  throw new Error(`README.md has no \`\`\`${lang} block containing ${marker}`)
}

t.test('the checkout runs its TypeScript sources; compiled code names compiled siblings', async (t) => {
  t.equal(runningCompiled, false, 'npm test loads runtime/*.ts, not dist/')
  const source = new URL('../../actors/mgmtd/mgmtd-actor.ts', import.meta.url).href
  t.equal(compiledModule(source), source, 'from source, an actor module stays the .ts file')
  t.equal(siblingModule('./worker-host-main.ts', 'file:///p/dist/runtime/node-runtime.js').href, 'file:///p/dist/runtime/worker-host-main.js')
  t.equal(siblingModule('./worker-host-main.ts', 'file:///p/runtime/node-runtime.ts').href, 'file:///p/runtime/worker-host-main.ts')
})

/** A `files` entry as paths of the checkout: `dir/*.ext` (the only glob the manifest uses) expanded. */
function expandGlob(entry: string): string[] {
  const star = /^(.*)\/\*(\.[a-z]+)$/.exec(entry)
  if (star === null) return [entry]
  return readdirSync(join(repo, star[1])).filter((name) => name.endsWith(star[2])).map((name) => `${star[1]}/${name}`)
}

t.test('npm pack: a tarball of the compiled package', async (t) => {
  // A copy of the packed files, so that pack's prepare (the build) cannot disturb this checkout.
  const stage = join(work, 'stage')
  for (const file of ['package.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json']) cpSync(join(repo, file), join(stage, file))
  for (const entry of manifest.files.filter((f) => !f.startsWith('dist')).flatMap(expandGlob)) {
    cpSync(join(repo, entry), join(stage, entry), { recursive: true, filter: (src) => !src.includes('/native/target') && !src.endsWith('.node') })
  }
  symlinkSync(join(repo, 'node_modules'), join(stage, 'node_modules'))
  const packed = await npm(['pack', '--pack-destination', work], stage)
  succeeded(t, packed, 'npm pack')
  const tarball = join(work, `t3fs-${manifest.version}.tgz`)
  t.ok(existsSync(tarball), 'the tarball is written')
  const listing = await run('tar', ['tzf', tarball], { cwd: work })
  const files = listing.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''))
  for (const needed of ['dist/bin/t3fs.js', 'dist/runtime/index.js', 'dist/runtime/index.d.ts', 'dist/runtime/index.js.map', 'dist/runtime/worker-host-main.js',
    'dist/runtime/cpu-pool-worker.mjs', 'dist/actors/smallpond/index.d.ts', 'dist/actors/smallpond/execution/user-function-worker.js', 'native/src/lib.rs', 'configs/dev.toml']) {
    t.ok(files.includes(needed), `packs ${needed}`)
  }
  t.notOk(files.some((f) => f.startsWith('test/') || f.startsWith('bench/') || f.endsWith('.node') || f.includes('native/target')), 'no tests, benches or built binaries')
})

t.test('npm install of the tarball into an empty project', async (t) => {
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  const installed = await npm(['install', '--foreground-scripts', join(work, `t3fs-${manifest.version}.tgz`)], app)
  succeeded(t, installed, 'npm install <tarball>')
  const addon = join(app, 'node_modules/t3fs/native/t3fs_native.node')
  t.ok(existsSync(addon) || /cargo \(the Rust toolchain\) was not found/.test(installed.stdout + installed.stderr),
    'the native addon is built, or the install says cargo is missing')
  t.notOk(existsSync(join(app, 'node_modules/tsx')) || existsSync(join(app, 'node_modules/typescript')), 'no TypeScript loader or compiler installed')
  t.throws(() => createRequire(join(app, 'package.json')).resolve('tsx'), 'tsx cannot be resolved from the project')

  // Without cargo the install script still succeeds and says what to do.
  const rebuilt = await run('npm', ['rebuild', 't3fs', '--foreground-scripts'], { cwd: app, env: { ...userEnv, CARGO: join(work, 'no-cargo') } })
  succeeded(t, rebuilt, 'npm rebuild t3fs without cargo')
  t.match(rebuilt.stdout + rebuilt.stderr, /cargo \(the Rust toolchain\) was not found[\s\S]*Install Rust[\s\S]*`npm rebuild t3fs`/)
})

t.test('plain node imports every exported entry', async (t) => {
  const exportsMap = JSON.parse(readFileSync(join(app, 'node_modules/t3fs/package.json'), 'utf8')).exports as Record<string, { types: string; import: string } | string>
  const entries = Object.entries(exportsMap).filter(([key]) => key !== './package.json')
  t.ok(entries.length >= 3)
  for (const [key, target] of entries) {
    if (typeof target === 'string') {
      t.fail(`${key} has no types/import conditions`)
      continue
    }
    t.ok(existsSync(join(app, 'node_modules/t3fs', target.types)), `${key}: ${target.types} exists`)
    const specifier = `t3fs${key.slice(1)}`
    const loaded = await node(['--input-type=module', '-e', `const m = await import(${JSON.stringify(specifier)}); console.log(Object.keys(m).length)`])
    succeeded(t, loaded, `import('${specifier}')`)
    t.ok(Number(loaded.stdout) > 0, `${specifier} has exports`)
  }
})

t.test("the README's quick start, unchanged, as a .mjs file", async (t) => {
  writeFileSync(join(app, 'make-prices.mjs'), [
    "import { DuckDBInstance } from '@duckdb/node-api'",
    "const db = await DuckDBInstance.create(':memory:', { threads: '1' })",
    'const conn = await db.connect()',
    "await conn.run(`copy (select t.ticker, (t.base + d.i)::double as price from (values ('AAPL', 100), ('MSFT', 200), ('NVDA', 300)) t(ticker, base), range(100) d(i)) to 'prices.parquet' (format parquet)`)",
    'conn.closeSync()',
  ].join('\n'))
  succeeded(t, await node(['make-prices.mjs']), 'prices.parquet written')
  writeFileSync(join(app, 'quickstart.mjs'), readmeBlock('js', "from 't3fs/smallpond'"))
  const ran = await node(['quickstart.mjs'])
  succeeded(t, ran, 'node quickstart.mjs')
  for (const [ticker, min, max] of [['AAPL', 100, 199], ['MSFT', 200, 299], ['NVDA', 300, 399]]) {
    t.match(ran.stdout, `{ ticker: '${ticker}', 'min(price)': ${min}, 'max(price)': ${max} }`)
  }
  const written = readdirSync(join(app, 'output')).filter((f) => f.endsWith('.parquet'))
  t.equal(written.length, 3, 'one Parquet file per partition in output/')
})

t.test('worker hosts and piscina workers run the compiled files', async (t) => {
  // Tasks as actors on worker hosts; a row function by module reference runs in the CpuPool.
  writeFileSync(join(app, 'row-function.mjs'), [
    "import { isMainThread } from 'node:worker_threads'",
    "import * as smallpond from 't3fs/smallpond'",
    'export function doubled(row) { return { ticker: row.ticker, gross: row.price * 2 } }',
    'if (isMainThread) {',
    "  const sp = await smallpond.init({ dataRoot: 'sp-actors', executor: 'actors' })",
    "  const df = sp.readParquet('prices.parquet').map({ module: import.meta.url, export: 'doubled' }, { schema: { ticker: 'VARCHAR', gross: 'DOUBLE' } })",
    "  const rows = await sp.partialSql('select ticker, max(gross) as top from {0} group by ticker order by ticker', df).toRecords()",
    '  console.log(JSON.stringify(rows))',
    '  await sp.shutdown()',
    '}',
  ].join('\n'))
  const ran = await node(['row-function.mjs'])
  succeeded(t, ran, 'node row-function.mjs')
  t.same(JSON.parse(ran.stdout), [{ ticker: 'AAPL', top: 398 }, { ticker: 'MSFT', top: 598 }, { ticker: 'NVDA', top: 798 }])
})

t.test('npx t3fs: --version, launch --dry-run, a running node and admin', async (t) => {
  const version = await run('npx', ['t3fs', '--version'], { cwd: app })
  succeeded(t, version, 'npx t3fs --version')
  t.equal(version.stdout.trim(), manifest.version)
  const devProfile = 'node_modules/t3fs/configs/dev.toml'
  const dry = await run('npx', ['t3fs', 'launch', '--dry-run', devProfile], { cwd: app })
  succeeded(t, dry, 'npx t3fs launch --dry-run')
  t.match(dry.stdout, /node 1 of cluster t3fs\n/)
  t.match(dry.stdout, /mgmtd = mgmtdActor from .*node_modules\/t3fs\/actors\/mgmtd\/mgmtd-actor\.ts on host 1/)

  // The profile names mgmtd by its source file; the installed package runs its compiled file.
  // Node 1 alone (no storage children on the profile's fixed ports; `npm start` is tested in test/bin/dev-cluster).
  const launched = spawn(process.execPath, ['node_modules/.bin/t3fs', 'launch', devProfile, '--config.listen.tcp=127.0.0.1:0', '--config.launch=[]'], { cwd: app, env: userEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => launched.kill('SIGKILL'))
  const result = collect(launched)
  const port = await new Promise<number | null>((resolve) => {
    let log = ''
    launched.stderr!.on('data', (c: Buffer) => {
      log += c.toString()
      const started = /"evt":"NodeStarted","listen":"127\.0\.0\.1:(\d+)"/.exec(log)
      if (started) resolve(Number(started[1]))
    })
    launched.on('close', () => resolve(null))
  })
  t.ok(port, 'the node started')
  const admin = await run('npx', ['t3fs', 'admin', '--mgmtd', `127.0.0.1:${port}`, 'list-nodes', '--json'], { cwd: app })
  succeeded(t, admin, 'npx t3fs admin list-nodes')
  t.match(JSON.parse(admin.stdout), [{ nodeId: 1, type: 'MGMTD' }])
  launched.kill('SIGTERM')
  const stopped = await result
  t.equal(stopped.code, 0, 'SIGTERM stops it cleanly')
  t.match(stopped.stderr, /"evt":"ActorStarted","actor":"mgmtd"/)
  t.notMatch(stopped.stderr, /ERR_|"level":50/, 'no errors logged')
})

t.test('an actor module in TypeScript, without a loader, fails the launch saying what it needs', async (t) => {
  writeFileSync(join(app, 'my-actor.ts'), "export const mine = { kind: 'mine', init: (): number => 0, handle(): void {} }\n")
  writeFileSync(join(app, 'ts-actor.toml'), [
    '[node]', 'id = 3', `root = ${JSON.stringify(app)}`, '[listen]', 'tcp = "127.0.0.1:0"', '[placement]', 'hosts_per_domain = 1',
    '[kv]', 'backend = "memory"', '[[actors]]', 'name = "mine"', 'module = "my-actor.ts"', 'export = "mine"', 'host = 1', '',
  ].join('\n'))
  const launched = await node(['node_modules/.bin/t3fs', 'launch', 'ts-actor.toml'])
  t.equal(launched.code, 1)
  t.match(launched.stderr, /actor mine \(mine from .*my-actor\.ts\) did not start: .*a TypeScript module needs a loader in every thread \(start node with `--import tsx`\)/)
})

t.test("tsc --strict on the README's code against the installed declarations", async (t) => {
  const own = createRequire(join(repo, 'package.json'))
  const versionOf = (name: string) => (own(`${name}/package.json`) as { version: string }).version
  // Scripts ran at the first install; this one only adds the compiler and Node's types.
  const added = await npm(['install', '--no-save', '--ignore-scripts', `typescript@${versionOf('typescript')}`, `@types/node@${versionOf('@types/node')}`], app)
  succeeded(t, added, 'npm install typescript @types/node')
  writeFileSync(join(app, 'quickstart.ts'), readmeBlock('js', "from 't3fs/smallpond'"))
  writeFileSync(join(app, 'counter.ts'), readmeBlock('ts', "from 't3fs/runtime'"))
  writeFileSync(join(app, 'testkit.ts'), [
    "import { TestSystem } from 't3fs/runtime/testkit'",
    "import { counter } from './counter.js'",
    'const system: TestSystem = new TestSystem()',
    'const ref = system.spawn(counter, 0)',
    "export const total: Promise<number> = ref.ask({ type: 'get' })",
  ].join('\n'))
  const compilerOptions = { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, types: ['node'], skipLibCheck: false }
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['quickstart.ts', 'counter.ts', 'testkit.ts'] }))
  const tsc = join(app, 'node_modules/typescript/bin/tsc')
  const checked = await node([tsc, '-p', 'tsconfig.json'])
  succeeded(t, checked, 'tsc --strict')

  // The declarations carry real types: a misuse is caught.
  writeFileSync(join(app, 'misuse.ts'), "import * as smallpond from 't3fs/smallpond'\nconst sp = await smallpond.init({ dataRoot: 'x' })\nsp.readParquet('p').repartition(3, { hashBy: 7 })\n")
  writeFileSync(join(app, 'tsconfig.misuse.json'), JSON.stringify({ compilerOptions, files: ['misuse.ts'] }))
  const misuse = await node([tsc, '-p', 'tsconfig.misuse.json'])
  t.not(misuse.code, 0)
  t.match(misuse.stdout, /misuse\.ts\(3,\d+\): error TS2322: Type 'number' is not assignable/)
})
