#!/usr/bin/env node
// Runs the tap suite and ends with the one summary line CI reads: `N passed, N failed`.
// tap's own closing line (`# { total, pass, fail }`) is not a format CI recognises.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const tapBin = fileURLToPath(new URL('../node_modules/tap/dist/esm/run.mjs', import.meta.url))
const child = spawn(process.execPath, [tapBin, '--reporter=tap', ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'inherit'],
})

let tail = ''
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  tail = (tail + chunk.toString('utf8')).slice(-4096)
})

child.on('close', (code, signal) => {
  const summary = /^# \{ (.*) \}$/m.exec(tail.split('\n').filter((l) => l.startsWith('# {')).pop() ?? '')
  const counts = { pass: 0, fail: 0, skip: 0, todo: 0 }
  if (summary) {
    for (const part of summary[1].split(',')) {
      const [key, value] = part.split(':').map((s) => s.trim())
      if (key in counts) counts[key] = Number(value)
    }
  }
  // A run that died before tap summarised counts as a failure, never as a silent pass.
  if (!summary || signal || (code !== 0 && counts.fail === 0)) counts.fail = Math.max(counts.fail, 1)
  const skipped = counts.skip + counts.todo
  console.log(`${counts.pass} passed, ${counts.fail} failed${skipped ? `, ${skipped} skipped` : ''}`)
  process.exitCode = code ?? 1
})
