/**
 * `t3fs <command> [options]`: a small subcommand dispatcher on node:util.parseArgs.
 *
 * A command is a function `(args, io) => Promise<exit code>`, so tests call it without spawning a
 * process. Exit codes: 0 success, 1 operational failure (a bad profile, a port in use, a node that
 * failed), 2 usage error (unknown command or option, missing argument).
 */
import { createRequire } from 'node:module'
import { launchCommand } from './launch.ts'
import { statusCommand } from './status.ts'
import { adminCommand } from '../actors/mgmtd/admin/cli.ts'

export interface Io {
  readonly stdout: { write(text: string): unknown }
  readonly stderr: { write(text: string): unknown }
}

export type Command = (args: string[], io: Io) => Promise<number>

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

interface CommandEntry {
  readonly summary: string
  readonly run: Command
}

const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  launch: { summary: 'start a node process from its TOML profile (--dry-run prints the plan)', run: launchCommand },
  status: { summary: 'nodes, chains, targets and the FUSE mount of a running cluster (`npm start`)', run: statusCommand },
  admin: { summary: 'cluster administration through mgmtd (list-nodes, upload-chains, ...; `t3fs admin --help`)', run: adminCommand },
}

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length))
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  return [
    'usage: t3fs <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    'options:',
    '  -h, --help     show help (also `t3fs <command> --help`)',
    '  --version      print the version',
    '',
    'exit codes: 0 ok, 1 operational failure, 2 usage error',
    '',
  ].join('\n')
}

function version(): string {
  // By package name, so the same line works from bin/cli.ts and from the compiled dist/bin/cli.js.
  const require = createRequire(import.meta.url)
  return (require('t3fs/package.json') as { version: string }).version
}

export async function main(argv: string[], io: Io): Promise<number> {
  const [first, ...rest] = argv
  if (first === undefined) {
    io.stderr.write(usage())
    return EXIT_USAGE
  }
  if (first === '-h' || first === '--help' || first === 'help') {
    io.stdout.write(usage())
    return EXIT_OK
  }
  if (first === '--version' || first === '-V') {
    io.stdout.write(`${version()}\n`)
    return EXIT_OK
  }
  const command = COMMANDS[first]
  if (!command) {
    io.stderr.write(`t3fs: unknown command ${JSON.stringify(first)}; accepted: ${Object.keys(COMMANDS).join(', ')}\n\n${usage()}`)
    return EXIT_USAGE
  }
  return command.run(rest, io)
}
