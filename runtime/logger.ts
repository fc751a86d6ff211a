/**
 * The logging seam actors use (ctx.log). Production binds it to pino in the launcher; tests and the
 * simulator collect records in memory. Events are named (`evt`) so tests can assert on them.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message?: string): void
  info(fields: Record<string, unknown>, message?: string): void
  warn(fields: Record<string, unknown>, message?: string): void
  error(fields: Record<string, unknown>, message?: string): void
  child(fields: Record<string, unknown>): Logger
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface LogRecord {
  level: LogLevel
  fields: Record<string, unknown>
  message: string | undefined
}

/** Writes JSON lines to a sink (stderr by default) at or above a level. */
export function createLogger(options: { level?: LogLevel; sink?: (record: LogRecord) => void; fields?: Record<string, unknown> } = {}): Logger {
  const minimum = levelRank[options.level ?? 'warn']
  const sink = options.sink ?? ((record: LogRecord) => {
    process.stderr.write(`${JSON.stringify({ level: record.level, ...record.fields, msg: record.message })}\n`)
  })
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
