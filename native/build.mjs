#!/usr/bin/env node
// Builds the Rust addon (cargo build --offline --release) and copies it to native/t3fs_native.node.
// Runs from `npm install`: a missing Rust toolchain is reported and the install still completes;
// native/index.ts then throws ERR_NATIVE_UNAVAILABLE with the same advice.
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
// `cargo` on PATH, else rustup's default location (npm may run with a PATH that lacks ~/.cargo/bin).
const candidates = process.env.CARGO ? [process.env.CARGO] : ['cargo', join(homedir(), '.cargo', 'bin', 'cargo')]
const cargo = candidates.find((c) => {
  const probe = spawnSync(c, ['--version'], { encoding: 'utf8' })
  return !probe.error && probe.status === 0
})
if (!cargo) {
  console.warn(
    '[t3fs native] cargo (the Rust toolchain) was not found, so the native addon (io_uring, CRC32C, ' +
      'affinity, FUSE mount, verbs) was NOT built.\n' +
      '  Install Rust: `apt-get install cargo` or https://rustup.rs (then `. ~/.cargo/env`),\n' +
      '  then run `npm run build:native` (in a project that installed t3fs: `npm rebuild t3fs`).',
  )
  process.exit(0)
}
const build = spawnSync(cargo, ['build', '--offline', '--release'], { cwd: here, stdio: 'inherit' })
if (build.status !== 0) {
  console.error(`[t3fs native] cargo build failed (exit ${build.status ?? build.signal}); see the errors above.`)
  process.exit(1)
}
const lib = join(here, 'target', 'release', 'libt3fs_native.so')
if (!existsSync(lib)) {
  console.error(`[t3fs native] build finished but ${lib} is missing`)
  process.exit(1)
}
copyFileSync(lib, join(here, 't3fs_native.node'))
console.log('[t3fs native] built native/t3fs_native.node')
