/**
 * The live dashboard: an HTTP listener serving one static page (static/: HTML, CSS and a script
 * drawing inline SVG, no build step) and `GET /api/state`, the sampler's JSON, which the page polls
 * every refresh interval. Read-only: the page changes nothing in the cluster.
 */
import { createServer } from 'node:http'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import type { NodeRuntime } from '../../runtime/node-runtime.ts'
import type { DashboardSettings } from '../../runtime/profile/index.ts'
import { listen, type HttpListener } from '../../runtime/metrics/metrics-server.ts'
import { DashboardSampler } from './sampler.ts'

const assets: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
}
const contentTypes: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
}

/** static/ beside this module when running from source; from dist/, the package's bin/dashboard/static. */
function staticDir(): string {
  for (const candidate of ['./static/', '../../../bin/dashboard/static/']) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url))
    if (existsSync(`${dir}index.html`)) return dir
  }
  throw new Error('the dashboard page (bin/dashboard/static/index.html) is missing from this installation')
}

export interface DashboardOptions {
  readonly runtime: NodeRuntime
  readonly settings: DashboardSettings
  readonly clusterId: string
  readonly log?: Logger
}

export async function startDashboard(options: DashboardOptions): Promise<HttpListener> {
  const dir = staticDir()
  const files = new Map(Object.values(assets).map((name) => [name, readFileSync(`${dir}${name}`)]))
  const sampler = new DashboardSampler(options.runtime, options.settings, options.clusterId)
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('the dashboard is read-only\n')
      return
    }
    if (path === '/api/state') {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(sampler.state()))
      return
    }
    const name = assets[path]
    if (name === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    response.writeHead(200, { 'content-type': contentTypes[name.split('.').pop()!], 'cache-control': 'no-cache' }).end(files.get(name))
  })
  const { host, port } = options.settings.listen
  const listener = await listen(server, host, port, 'dashboard.listen')
  sampler.start()
  options.log?.debug({ evt: 'DashboardStarted', port: listener.port, mgmtdNode: options.settings.mgmtdNode })
  return {
    port: listener.port,
    close: async () => {
      sampler.stop()
      await listener.close()
    },
  }
}
