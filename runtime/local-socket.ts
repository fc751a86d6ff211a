/**
 * A unix-domain stream socket carrying JSON lines between the processes of one machine (USRBIO's
 * control channel and doorbell). Both sides get `send(message)` and `onMessage`; sends made in the
 * same tick leave in one write (corked until the next tick), so a burst of completions wakes the
 * peer once. A line longer than `maxLineBytes` closes the connection: a peer that sends one is broken.
 */
import { existsSync, lstatSync, unlinkSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { T3fsError } from './errors.ts'

export const defaultMaxLineBytes = 64 * 1024

export interface LocalConnection {
  readonly id: number
  send(message: object): void
  close(): void
}

export interface LocalSocketHandlers {
  onOpen?(conn: LocalConnection): void
  /** One line, parsed; `error` when it was not JSON. */
  onMessage(conn: LocalConnection, message: unknown, error: string | null): void
  onClose?(conn: LocalConnection): void
}

export interface LocalSocketServer {
  readonly path: string
  close(): Promise<void>
}

let nextId = 1

function wrap(socket: Socket, handlers: LocalSocketHandlers, maxLineBytes: number): LocalConnection {
  let corked = false
  const conn: LocalConnection = {
    id: nextId++,
    send(message) {
      if (socket.destroyed) return
      if (!corked) {
        corked = true
        socket.cork()
        process.nextTick(() => { corked = false; socket.uncork() })
      }
      socket.write(`${JSON.stringify(message)}\n`)
    },
    close() { socket.destroy() },
  }
  let pending = ''
  socket.setEncoding('utf8')
  socket.on('data', (text: string) => {
    pending += text
    let nl: number
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl)
      pending = pending.slice(nl + 1)
      let value: unknown = null
      let error: string | null = null
      try { value = JSON.parse(line) } catch (e) { error = `not a JSON line: ${(e as Error).message}` }
      handlers.onMessage(conn, value, error)
    }
    if (pending.length > maxLineBytes) socket.destroy()
  })
  socket.on('error', () => {}) // 'close' follows; a peer that died is the normal end
  socket.on('close', () => handlers.onClose?.(conn))
  return conn
}

/** Listens on `path` (a stale socket file left by a dead process is replaced; a live one is EADDRINUSE). */
export async function listenLocalSocket(path: string, handlers: LocalSocketHandlers, limits: { maxConnections: number; maxLineBytes?: number }): Promise<LocalSocketServer> {
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket()) throw new T3fsError('EEXIST', `${path} exists and is not a socket; remove it or pick another socket path`, { path })
    const live = await new Promise<boolean>((resolve) => {
      const probe = connect(path, () => { probe.destroy(); resolve(true) })
      probe.on('error', () => resolve(false))
    })
    if (live) throw new T3fsError('EADDRINUSE', `another process serves ${path}`, { path })
    unlinkSync(path)
  }
  const server: Server = createServer((socket) => handlers.onOpen?.(wrap(socket, handlers, limits.maxLineBytes ?? defaultMaxLineBytes)))
  server.maxConnections = limits.maxConnections
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new T3fsError((e as NodeJS.ErrnoException).code ?? 'EIO', `listening on ${path}: ${e.message}`, { path })))
    server.listen(path, () => resolve())
  })
  return {
    path,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      try { unlinkSync(path) } catch { /* gone already */ }
    }),
  }
}

/** Connects to a local socket served by listenLocalSocket. */
export async function connectLocalSocket(path: string, handlers: LocalSocketHandlers, maxLineBytes = defaultMaxLineBytes): Promise<LocalConnection> {
  const socket = connect(path)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('error', (e) => reject(new T3fsError((e as NodeJS.ErrnoException).code ?? 'EIO', `connecting to ${path}: ${e.message}; is a t3fs node with the usrbio actor running?`, { path })))
  })
  return wrap(socket, handlers, maxLineBytes)
}
