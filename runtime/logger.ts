/**
 * The logging seam actors use (ctx.log). Production binds it to pino in the launcher; tests and the
 * simulator collect records in memory. Events are named (`evt`) so tests can assert on them.
 * Without a sink, records go to stderr as pino's JSON lines (numeric level, time), or pino-pretty's
 * readable lines (`readableLogOptions`) when stderr is a terminal, so worker hosts read like host 0.
 */
import { createRequire } from 'node:module'
import { isatty } from 'node:tty'
import type { PrettyOptions } from 'pino-pretty'

export interface Logger {
  debug(fields: Record<string, unknown>, message?: string): void
  info(fields: Record<string, unknown>, message?: string): void
  warn(fields: Record<string, unknown>, message?: string): void
  error(fields: Record<string, unknown>, message?: string): void
  child(fields: Record<string, unknown>): Logger
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'
const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 50 }
/** pino's numbers for the levels, which pino-pretty labels. */
const pinoLevel: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50, silent: Infinity }

/** How a readable line looks: `[12:00:01.234] INFO: NodeStarted: node 1 started {"node":1,...}`. */
export const readableLogOptions: PrettyOptions = {
  translateTime: 'SYS:HH:MM:ss.l',
  ignore: 'pid,hostname,evt',
  singleLine: true,
  colorize: process.env.NO_COLOR === undefined,
  messageFormat: (log, messageKey) => [log.evt, log[messageKey]].filter((part) => part !== undefined && part !== '').join(': '),
}

let stderrSink: ((record: LogRecord) => void) | undefined

/** Decided once per thread: fd 2 is the process's, so a worker thread sees the same terminal. */
function defaultSink(): (record: LogRecord) => void {
  if (stderrSink) return stderrSink
  const pinoRecord = (record: LogRecord) => ({ level: pinoLevel[record.level], time: Date.now(), ...record.fields, msg: record.message })
  if (isatty(2)) {
    const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty')
    const prettify = prettyFactory(readableLogOptions)
    stderrSink = (record) => process.stderr.write(prettify(pinoRecord(record)))
  } else {
    stderrSink = (record) => process.stderr.write(`${JSON.stringify(pinoRecord(record))}\n`)
  }
  return stderrSink
}

export interface LogRecord {
  level: LogLevel
  fields: Record<string, unknown>
  message: string | undefined
}

/** Writes JSON lines to a sink (stderr by default) at or above a level. */
export function createLogger(options: { level?: LogLevel; sink?: (record: LogRecord) => void; fields?: Record<string, unknown> } = {}): Logger {
  const minimum = levelRank[options.level ?? 'warn']
  const sink = options.sink ?? defaultSink()
  const base = options.fields ?? {}
  const emit = (level: LogLevel) => (fields: Record<string, unknown>, message?: string) => {
    if (levelRank[level] >= minimum) sink({ level, fields: { ...base, ...fields }, message })
  }
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => createLogger({ level: options.level ?? 'warn', sink, fields: { ...base, ...fields } }),
  }
}

export const silentLogger: Logger = createLogger({ sink: () => {} })
