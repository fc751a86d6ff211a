/**
 * The CSV files of 3FS's data-placement tools (reference/3fs.md §3.7):
 *   chains:      header `ChainId,TargetId,TargetId,...`, then one chain per line, head first
 *   chain table: header `ChainId`, then one chain id per line, in table order
 * Errors name the file, line, column and value, and what is accepted.
 */
import { T3fsError } from '../../../runtime/errors.ts'

export const CSV_ERROR = 'ERR_ADMIN_BAD_CSV'
const MAX_ROWS = 1_000_000
const MAX_ID = Number.MAX_SAFE_INTEGER

function fail(file: string, line: number, column: number | null, message: string): never {
  const where = column === null ? `${file}:${line}` : `${file}:${line}:${column}`
  throw new T3fsError(CSV_ERROR, `${where}: ${message}`, { file, line, column })
}

interface Row {
  line: number
  cells: string[]
}

function rows(text: string, file: string): Row[] {
  const out: Row[] = []
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  lines.forEach((raw, i) => {
    if (raw.trim() === '') return
    if (out.length >= MAX_ROWS) fail(file, i + 1, null, `more than ${MAX_ROWS} rows; accepted: at most ${MAX_ROWS}`)
    out.push({ line: i + 1, cells: raw.split(',').map((c) => c.trim()) })
  })
  return out
}

function parseId(file: string, row: Row, column: number, what: string): number {
  const cell = row.cells[column]
  if (!/^\d+$/.test(cell) || Number(cell) > MAX_ID) fail(file, row.line, column + 1, `${what} ${JSON.stringify(cell)} is not accepted; accepted: a non-negative integer up to ${MAX_ID}`)
  return Number(cell)
}

function checkHeader(file: string, header: Row | undefined, expected: string): void {
  if (header === undefined) fail(file, 1, null, `the file is empty; accepted: a header line starting with ${expected}, then data rows`)
  if (header.cells[0].toLowerCase() !== expected.toLowerCase()) {
    fail(file, header.line, 1, `header ${JSON.stringify(header.cells[0])} is not accepted; accepted: ${expected}`)
  }
}

export interface ChainRow {
  chainId: number
  targets: number[]
}

export function parseChainsCsv(text: string, file = 'chains.csv'): ChainRow[] {
  const [header, ...data] = rows(text, file)
  checkHeader(file, header, 'ChainId')
  header.cells.slice(1).forEach((cell, i) => {
    if (cell.toLowerCase() !== 'targetid') fail(file, header.line, i + 2, `header ${JSON.stringify(cell)} is not accepted; accepted: TargetId`)
  })
  if (data.length === 0) fail(file, header.line, null, 'no chains after the header; accepted: one line per chain, ChainId,TargetId,...')
  const seenChains = new Map<number, number>()
  const seenTargets = new Map<number, number>()
  return data.map((row) => {
    if (row.cells.length < 2) fail(file, row.line, null, `a chain needs at least one target; accepted: ChainId,TargetId[,TargetId...]`)
    const chainId = parseId(file, row, 0, 'chain id')
    if (seenChains.has(chainId)) fail(file, row.line, 1, `chain ${chainId} already appears on line ${seenChains.get(chainId)}; accepted: each chain once`)
    seenChains.set(chainId, row.line)
    const targets = row.cells.slice(1).map((_, i) => {
      const targetId = parseId(file, row, i + 1, 'target id')
      if (seenTargets.has(targetId)) fail(file, row.line, i + 2, `target ${targetId} already appears on line ${seenTargets.get(targetId)}; accepted: each target in one chain, once`)
      seenTargets.set(targetId, row.line)
      return targetId
    })
    return { chainId, targets }
  })
}

export function parseChainTableCsv(text: string, file = 'chain-table.csv'): number[] {
  const [header, ...data] = rows(text, file)
  checkHeader(file, header, 'ChainId')
  if (header.cells.length !== 1) fail(file, header.line, 2, `unexpected column ${JSON.stringify(header.cells[1])}; accepted: a single ChainId column`)
  if (data.length === 0) fail(file, header.line, null, 'no chain ids after the header; accepted: one chain id per line')
  const seen = new Map<number, number>()
  return data.map((row) => {
    if (row.cells.length !== 1) fail(file, row.line, 2, `unexpected value ${JSON.stringify(row.cells[1])}; accepted: one chain id per line`)
    const chainId = parseId(file, row, 0, 'chain id')
    if (seen.has(chainId)) fail(file, row.line, 1, `chain ${chainId} already appears on line ${seen.get(chainId)}; accepted: each chain once per table`)
    seen.set(chainId, row.line)
    return chainId
  })
}
