/**
 * The node's `/metrics` endpoint: an HTTP listener on the main thread that answers GET /metrics
 * with every host's metrics summed (NodeRuntime.metricsText), in the Prometheus text format.
 * Scrapes that arrive while one is being gathered share its result, so a burst of scrapers costs
 * one round over the hosts.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { T3fsError } from '../errors.ts'
import { prometheusContentType } from './aggregate.ts'

/** Open connections the listener accepts at once (scrapers and curious browsers). */
export const httpConnectionsMax = 64

export interface HttpListener {
  /** The port it listens on (the one picked when the profile asked for port 0). */
  readonly port: number
  close(): Promise<void>
}

export interface MetricsServerOptions {
  readonly host: string
  readonly port: number
  /** The node's metrics in the text format. */
  readonly gather: () => Promise<string>
}

export async function serveMetrics(options: MetricsServerOptions): Promise<HttpListener> {
  let inFlight: Promise<string> | null = null
  const gather = (): Promise<string> => {
    inFlight ??= options.gather().finally(() => { inFlight = null })
    return inFlight
  }
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: this listener serves GET /metrics\n')
      return
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET /metrics\n')
      return
    }
    gather().then(
      (text) => response.writeHead(200, { 'content-type': prometheusContentType }).end(request.method === 'HEAD' ? undefined : text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics could not be gathered: ${String(error)}\n`),
    )
  })
  return listen(server, options.host, options.port, 'metrics.listen')
}

/** Starts `server` on host:port, or fails with ERR_LISTEN naming the profile key. */
export function listen(server: Server, host: string, port: number, key: string): Promise<HttpListener> {
  server.maxConnections = httpConnectionsMax
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(new T3fsError('ERR_LISTEN', `${key} ${host}:${port} cannot be listened on (${error.code ?? error.message}); accepted: a free port on a local address`, { key, host, port, errno: error.code ?? '' }))
    })
    server.listen(port, host, () => {
      const bound = (server.address() as AddressInfo).port
      resolve({
        port: bound,
        close: () => new Promise<void>((done) => {
          server.close(() => done())
          server.closeAllConnections()
        }),
      })
    })
  })
}
