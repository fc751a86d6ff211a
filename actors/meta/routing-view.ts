/**
 * What meta needs of mgmtd's routing info: the latest version and size of a chain table (to place
 * new files), the chain ids of a table version (to turn a layout's chain indexes into chains), and
 * each chain's version (storage refuses a request naming a stale one). Built from mgmtd's
 * RoutingInfo, or given whole in tests and the simulator.
 */
import type { RoutingInfo } from '../mgmtd/protocol.ts'
import type { ChainTableView } from './layout.ts'

export interface RoutingView {
  chainTable(tableId: number): ChainTableView | null
  tableChains(tableId: number, version: number): readonly number[] | null
  chainVersion(chainId: number): number
}

export interface StaticTable {
  readonly tableId: number
  readonly version: number
  readonly chains: readonly number[]
}

export function staticRouting(tables: readonly StaticTable[], chainVersions: ReadonlyMap<number, number> = new Map()): RoutingView {
  const latest = new Map<number, StaticTable>()
  for (const t of tables) if ((latest.get(t.tableId)?.version ?? -1) < t.version) latest.set(t.tableId, t)
  return {
    chainTable: (id) => {
      const t = latest.get(id)
      return t === undefined ? null : { version: t.version, chainCount: t.chains.length }
    },
    tableChains: (id, version) => tables.find((t) => t.tableId === id && t.version === version)?.chains ?? null,
    chainVersion: (chainId) => chainVersions.get(chainId) ?? 1,
  }
}

export function routingViewOf(info: RoutingInfo): RoutingView {
  const versions = new Map(info.chains.map((c) => [c.chainId, c.chainVersion]))
  return staticRouting(info.chainTables.map((t) => ({ tableId: t.tableId, version: t.version, chains: t.chains })), versions)
}

export const emptyRouting: RoutingView = staticRouting([])

/**
 * The routing view now, and a fresh one on demand: a layout naming a chain table the view lacks
 * (a server that has not reached mgmtd since it started, or a table uploaded since the last
 * refresh) asks for one before it gives up.
 */
export interface RoutingSource {
  current(): RoutingView
  refresh(): Promise<RoutingView>
}

/** A view that never changes (tests, the simulator's static routing). */
export function fixedRouting(view: RoutingView): RoutingSource {
  return { current: () => view, refresh: async () => view }
}
