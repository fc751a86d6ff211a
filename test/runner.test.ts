/**
 * test/run.mjs, the runner `npm test` and CI use: it ends with `N passed, N failed` and lists every
 * failed assertion above that line (file, subtests, line, what was found and wanted, what the
 * subtest printed — a dev cluster's warnings among it), since CI keeps only the output's tail.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const repo = fileURLToPath(new URL('../', import.meta.url))

function runner(file: string): Promise<{ code: number | null; lines: string[] }> {
  // The tap this test runs in sets TAP_* variables that would make the inner tap report to it.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TAP')))
  const child = spawn(process.execPath, ['test/run.mjs', file], { cwd: repo, env, stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, lines: out.trimEnd().split('\n') })))
}

t.test('failures are listed above the summary line with where, what and what was printed', async (t) => {
  const { code, lines } = await runner('test/fixtures/runner-failures.ts')
  t.not(code, 0, 'a failed run exits non-zero')
  t.equal(lines.at(-1), '1 passed, 3 failed', 'the last line is the summary')
  const listed = lines.slice(lines.indexOf('# 3 failed:'))
  t.ok(listed.length > 1, 'the failures are listed above it')
  const text = listed.join('\n')
  t.match(text, /# ✗ test\/fixtures\/runner-failures\.ts > a subtest whose assertion fails > two is three \(test\/fixtures\/runner-failures\.ts:13\)/, 'file, subtests, assertion and line')
  t.match(text, /#       -3\n#       \+2/, 'what was wanted and found')
  t.match(text, /printed:\n#     printed before it failed\n#     the dev cluster's last 2 warnings and errors:\n#     \{"level":40,"evt":"FuseRequestFailed","op":"UNLINK"\}\n#     \{"level":50,"evt":"ActorFailed"\}/, 'what the subtest printed, its teardown\'s cluster warnings included')
  t.notMatch(text, /Started|printed by a passing subtest/, 'nothing from info lines or passing subtests')
  t.match(text, /# ✗ test\/fixtures\/runner-failures\.ts > a subtest that throws > thrown on purpose/, 'a thrown error')
  t.notMatch(text, /stack:|source:/, 'without tap\'s stacks and source excerpts')
  t.match(text, /> a subtest that throws a long message > a long message: y{184}… \(/, 'a long message is cut on its line')
  t.match(text, /in full:\n#     a long message: y{284}\n#     y{116} the end/, 'and follows folded')
})
