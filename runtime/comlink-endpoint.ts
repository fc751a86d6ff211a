/**
 * comlink's Node adapter is a CommonJS module whose `module.exports` is the function itself, while
 * its typings declare a default export. One place resolves that for the host and the node runtime.
 */
import * as adapter from 'comlink/dist/umd/node-adapter.js'

type NodeEndpoint = typeof adapter.default.default
const exported = adapter.default as unknown as NodeEndpoint | { default: NodeEndpoint }

export const nodeEndpoint: NodeEndpoint = typeof exported === 'function' ? exported : exported.default
