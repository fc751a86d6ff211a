/**
 * The launcher's logs: pino's JSON lines on stderr when it is not a terminal (a service manager, a
 * pipe, a file), readable lines through pino-pretty when a person is watching. The level comes from
 * `--log-level`, else T3FS_LOG_LEVEL, else the profile's `log.level`; worker hosts get the same.
 */
import { writeSync } from 'node:fs'
import { isatty } from 'node:tty'
import pino from 'pino'
import { prettyFactory } from 'pino-pretty'
import { readableLogOptions, type Logger, type LogLevel } from '../runtime/logger.ts'
import { T3fsError } from '../runtime/errors.ts'
import type { LogLevel as ProfileLogLevel } from '../runtime/profile/index.ts'

export const LOG_LEVELS: readonly ProfileLogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
export type LogFormat = 'json' | 'pretty'

export interface LogLevelChoice {
  readonly level: ProfileLogLevel
  readonly from: '--log-level' | 'T3FS_LOG_LEVEL' | 'profile'
}

/** Picks the level; a flag or variable set to something else is ERR_LOG_LEVEL naming it. */
export function resolveLogLevel(flag: string | undefined, env: string | undefined, profileLevel: ProfileLogLevel): LogLevelChoice {
  if (flag !== undefined) return { level: checkLevel('--log-level', flag), from: '--log-level' }
  if (env !== undefined && env !== '') return { level: checkLevel('T3FS_LOG_LEVEL', env), from: 'T3FS_LOG_LEVEL' }
  return { level: profileLevel, from: 'profile' }
}

function checkLevel(source: string, value: string): ProfileLogLevel {
  const level = LOG_LEVELS.find((l) => l === value)
  if (level !== undefined) return level
  throw new T3fsError('ERR_LOG_LEVEL', `${source} is ${JSON.stringify(value)}; accepted: ${LOG_LEVELS.join(', ')}`, {
    option: source,
    value,
    accepted: LOG_LEVELS.join(', '),
  })
}

/** Readable lines for a terminal, JSON lines for anything else. */
export function logFormatFor(fd: number): LogFormat {
  return isatty(fd) ? 'pretty' : 'json'
}

/**
 * The node's pino logger on `fd` (stderr unless a test says otherwise). Readable lines are formatted
 * and written synchronously as they come (a terminal is slow anyway), so none is lost at exit.
 */
export function createNodeLogger(options: { level: ProfileLogLevel; node: number; format: LogFormat; fd?: number }): pino.Logger {
  const fd = options.fd ?? 2
  const settings = { level: options.level, base: { node: options.node } }
  if (options.format === 'pretty') {
    const prettify = prettyFactory(readableLogOptions)
    return pino(settings, { write: (line: string) => writeAll(fd, prettify(line)) })
  }
  return pino(settings, pino.destination({ fd, sync: false }))
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text)
  for (let offset = 0; offset < bytes.length;) offset += writeSync(fd, bytes, offset)
}

/** The worker hosts' level: the runtime logger has no trace or fatal, so they round to debug and error. */
export function runtimeLogLevel(level: ProfileLogLevel): LogLevel {
  if (level === 'trace') return 'debug'
  if (level === 'fatal') return 'error'
  return level
}

/** Host 0's runtime logger, writing through pino. */
export function runtimeLogger(log: pino.Logger): Logger {
  return {
    debug: (fields, message) => log.debug(fields, message),
    info: (fields, message) => log.info(fields, message),
    warn: (fields, message) => log.warn(fields, message),
    error: (fields, message) => log.error(fields, message),
    child: (fields) => runtimeLogger(log.child(fields)),
  }
}
