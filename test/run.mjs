#!/usr/bin/env node
// Runs the tap suite and ends with the one summary line CI reads: `N passed, N failed`.
// tap's own closing line (`# { total, pass, fail }`) is not a format CI recognises.
// Just above it, every failed assertion is named with its file and subtests and the first lines of
// its diagnostics: CI keeps only the output's tail, and a failure far up a 7000-assertion log is
// otherwise lost with it.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const tapBin = fileURLToPath(new URL('../node_modules/tap/dist/esm/run.mjs', import.meta.url))
const child = spawn(process.execPath, [tapBin, '--reporter=tap', ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'inherit'],
})

const DIAG_LINES = 12
/** Comments a failed subtest printed (e.g. a dev cluster's warnings: support/dev-cluster.ts), at most. */
const NOTE_LINES = 45
/** A failure's name is cut here on its line; a longer one (a thrown message) follows folded. */
const NAME_CHARS = 200
const FOLD_CHARS = 300
/** Subtest names by depth (4 spaces of indentation per level). */
const names = []
/** Failed assertions: { path, diag, at, notes } — parents of a failure are dropped when they report. */
const failures = []
/** Comments printed by the open subtest at each depth: in its body, or (teardowns) after its plan. */
const comments = []
/** Whether the subtest whose header is at a depth has not reported yet. */
const open = []
let diagOf = null
let diagIndent = ''
let partial = ''
let tail = ''

/** Where the failure is and what was found and wanted, without tap's stack and source excerpts. */
const SKIPPED_KEYS = new Set(['stack', 'source', 'tapCaught', 'at', 'requests', 'handles'])
let diagKey = ''
function keepDiag(failure, line) {
  if (line === '---') return
  const key = /^([\w-]+):/.exec(line)
  if (key) diagKey = key[1]
  const at = /^ {2}(fileName|lineNumber): (.*)$/.exec(line)
  if (diagKey === 'at' && at) failure.at[at[1]] = at[2]
  else if (!SKIPPED_KEYS.has(diagKey) && failure.diag.length < DIAG_LINES) failure.diag.push(line)
}

function onLine(line) {
  if (diagOf !== null) {
    if (line.startsWith(`${diagIndent}...`) || !line.startsWith(diagIndent)) diagOf = null
    else {
      keepDiag(diagOf, line.slice(diagIndent.length))
      return
    }
  }
  const subtest = /^((?: {4})*)# Subtest: (.*)$/.exec(line)
  if (subtest) {
    const depth = subtest[1].length / 4
    names.length = depth
    names[depth] = subtest[2]
    comments[depth] = []
    open[depth] = true
    return
  }
  const comment = /^((?: {4})*)# (.*)$/.exec(line)
  if (comment) {
    const depth = comment[1].length / 4
    // At a subtest's own indentation, before its result line: printed by its teardown.
    const owner = open[depth] ? depth : depth - 1
    if (owner >= 0 && !/^time=/.test(comment[2])) (comments[owner] ??= []).push(comment[2])
    return
  }
  const result = /^((?: {4})*)(?:not )?ok \d+ - /.exec(line)
  const resultDepth = result ? result[1].length / 4 : -1
  const said = result && open[resultDepth] ? comments[resultDepth] : []
  if (result) open[resultDepth] = false
  const notOk = /^((?: {4})*)not ok \d+ - (.*?)(?: # time=[\d.]+ms)?$/.exec(line)
  if (notOk) {
    const depth = notOk[1].length / 4
    const path = [...names.slice(0, depth), notOk[2]]
    const last = failures.at(-1)
    // A subtest fails because something inside it did: that inner failure is already listed, and
    // what the subtest printed goes with it.
    if (last && last.path.length > path.length && path.every((p, i) => p === last.path[i])) {
      const room = NOTE_LINES - last.notes.length
      if (room > 0) last.notes.push(...said.slice(-room))
      return
    }
    diagOf = { path, diag: [], at: {}, notes: said.slice(-NOTE_LINES) }
    diagKey = ''
    diagIndent = `${notOk[1]}  `
    failures.push(diagOf)
  }
}

child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  const text = chunk.toString('utf8')
  tail = (tail + text).slice(-4096)
  const lines = (partial + text).split('\n')
  partial = lines.pop()
  for (const line of lines) onLine(line)
})

child.on('close', (code, signal) => {
  if (partial !== '') onLine(partial)
  const summary = /^# \{ (.*) \}$/m.exec(tail.split('\n').filter((l) => l.startsWith('# {')).pop() ?? '')
  const counts = { pass: 0, fail: 0, skip: 0, todo: 0 }
  if (summary) {
    for (const part of summary[1].split(',')) {
      const [key, value] = part.split(':').map((s) => s.trim())
      if (key in counts) counts[key] = Number(value)
    }
  }
  if (failures.length > 0) {
    console.log(`\n# ${failures.length} failed:`)
    for (const { path, diag, at, notes } of failures) {
      // A thrown error's message is its name, on one line: a long one is shown folded below.
      const name = path.at(-1)
      const shown = [...path.slice(0, -1), name.length > NAME_CHARS ? `${name.slice(0, NAME_CHARS)}…` : name]
      console.log(`# ✗ ${shown.join(' > ')}${at.fileName ? ` (${at.fileName}:${at.lineNumber})` : ''}`)
      if (name.length > NAME_CHARS) {
        const folded = name.match(new RegExp(`.{1,${FOLD_CHARS}}`, 'g')).slice(0, NOTE_LINES)
        console.log(`#   in full:\n${folded.map((l) => `#     ${l}`).join('\n')}`)
      }
      for (const d of diag) console.log(`#     ${d}`)
      if (notes.length > 0) console.log(`#   printed:\n${notes.map((n) => `#     ${n}`).join('\n')}`)
    }
  }
  // A run that died before tap summarised counts as a failure, never as a silent pass.
  if (!summary || signal || (code !== 0 && counts.fail === 0)) counts.fail = Math.max(counts.fail, 1)
  const skipped = counts.skip + counts.todo
  console.log(`${counts.pass} passed, ${counts.fail} failed${skipped ? `, ${skipped} skipped` : ''}`)
  process.exitCode = code ?? 1
})
