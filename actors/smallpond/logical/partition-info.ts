/**
 * Partition identity: a sorted list of (dimension, index/n) entries that always holds the top-level
 * entry. Multi-input nodes match inputs by restricting a task's infos to another input's dimensions.
 */
export const TOPLEVEL_DIMENSION = '@toplevel@'
export const DATA_PARTITION_COLUMN = '__data_partition__'

export interface PartitionInfo {
  readonly index: number
  readonly npartitions: number
  readonly dimension: string
}

export const TOPLEVEL_INFO: PartitionInfo = { index: 0, npartitions: 1, dimension: TOPLEVEL_DIMENSION }

export function sortInfos(infos: readonly PartitionInfo[]): PartitionInfo[] {
  return [...infos].sort((a, b) => (a.dimension < b.dimension ? -1 : a.dimension > b.dimension ? 1 : 0))
}

export function dimensionsOf(infos: readonly PartitionInfo[]): string[] {
  return infos.map((p) => p.dimension).sort()
}

export function restrictInfos(infos: readonly PartitionInfo[], dimensions: readonly string[]): PartitionInfo[] {
  const keep = new Set(dimensions)
  return infos.filter((p) => keep.has(p.dimension))
}

/** Identity key: dimension, index and npartitions (n is kept so n vs 2n inputs never match). */
export function infosKey(infos: readonly PartitionInfo[]): string {
  return sortInfos(infos).map((p) => `${p.dimension}:${p.index}/${p.npartitions}`).join(',')
}

export function partitionIndexOf(infos: readonly PartitionInfo[], dimension: string): number | undefined {
  return infos.find((p) => p.dimension === dimension)?.index
}
