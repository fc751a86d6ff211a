/**
 * Value conversions between JS rows, DuckDB tables and apache-arrow Tables. DuckDB BIGINT is a JS
 * bigint and an Arrow Int64, consistently; DuckDB owns the Parquet encoding.
 */
import {
  Binary, Bool, DateMillisecond, Field, Float32, Float64, Int16, Int32, Int64, Int8, Schema, Table, TimestampMicrosecond,
  Uint16, Uint32, Uint64, Uint8, Utf8, makeData, Struct, RecordBatch, vectorFromArray, type DataType, Type, type Vector,
} from 'apache-arrow'
import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api'
import { smallpondError, SmallpondErrorCode } from '../errors.ts'
import { quoteIdent } from './sql-template.ts'

export type Row = Record<string, unknown>
export type ColumnTypes = readonly (readonly [string, string])[]

const APPENDABLE = 'BIGINT, INTEGER, SMALLINT, TINYINT, UBIGINT, UINTEGER, USMALLINT, UTINYINT, HUGEINT, DOUBLE, FLOAT, DECIMAL, VARCHAR, BOOLEAN, BLOB'

function unsupported(column: string, type: string): Error {
  return smallpondError(SmallpondErrorCode.unsupportedType,
    `smallpond: column ${JSON.stringify(column)} has type ${type}, which user functions cannot produce; accepted: ${APPENDABLE}`,
    { column, type })
}

type Append = (a: DuckDBAppender, v: unknown) => void

function toBigInt(v: unknown): bigint {
  return typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))
}

function appenderFor(column: string, type: string): Append {
  const t = type.toUpperCase()
  if (t.startsWith('DECIMAL')) return (a, v) => a.appendDouble(Number(v))
  switch (t) {
    case 'BIGINT': case 'INT8': case 'LONG': return (a, v) => a.appendBigInt(toBigInt(v))
    case 'HUGEINT': return (a, v) => a.appendHugeInt(toBigInt(v))
    case 'UBIGINT': return (a, v) => a.appendUBigInt(toBigInt(v))
    case 'INTEGER': case 'INT': case 'INT4': return (a, v) => a.appendInteger(Number(v))
    case 'SMALLINT': return (a, v) => a.appendSmallInt(Number(v))
    case 'TINYINT': return (a, v) => a.appendTinyInt(Number(v))
    case 'UINTEGER': return (a, v) => a.appendUInteger(Number(v))
    case 'USMALLINT': return (a, v) => a.appendUSmallInt(Number(v))
    case 'UTINYINT': return (a, v) => a.appendUTinyInt(Number(v))
    case 'DOUBLE': case 'FLOAT8': return (a, v) => a.appendDouble(Number(v))
    case 'FLOAT': case 'REAL': case 'FLOAT4': return (a, v) => a.appendFloat(Number(v))
    case 'VARCHAR': case 'TEXT': case 'STRING': return (a, v) => a.appendVarchar(typeof v === 'string' ? v : String(v))
    case 'BOOLEAN': case 'BOOL': return (a, v) => a.appendBoolean(Boolean(v))
    case 'BLOB': case 'BYTEA': return (a, v) => a.appendBlob(v instanceof Uint8Array ? v : new TextEncoder().encode(String(v)))
    default: throw unsupported(column, type)
  }
}

/** DuckDB column types for JS rows: explicit schema first, then the first non-null value of each column. */
export function inferColumnTypes(rows: readonly Row[], schema?: Record<string, string>): ColumnTypes {
  const names: string[] = schema ? Object.keys(schema) : []
  const seen = new Set(names)
  for (const r of rows) for (const k of Object.keys(r)) if (!seen.has(k)) { seen.add(k); names.push(k) }
  return names.map((name) => {
    if (schema?.[name]) return [name, schema[name]] as const
    let type: string | undefined
    let allIntegers = true
    for (const r of rows) {
      const v = r[name]
      if (v === null || v === undefined) continue
      if (typeof v === 'bigint') type ??= 'BIGINT'
      else if (typeof v === 'number') { type = type === 'BIGINT' || type === undefined ? 'BIGINT' : type; if (!Number.isInteger(v)) allIntegers = false }
      else if (typeof v === 'string') type ??= 'VARCHAR'
      else if (typeof v === 'boolean') type ??= 'BOOLEAN'
      else if (v instanceof Uint8Array) type ??= 'BLOB'
      else throw unsupported(name, `JS ${Object.prototype.toString.call(v)}`)
    }
    if (type === undefined) {
      throw smallpondError(SmallpondErrorCode.unsupportedType,
        `smallpond: column ${JSON.stringify(name)} holds only nulls, so its type cannot be inferred; accepted: pass schema: { ${name}: 'BIGINT' } (a DuckDB type)`,
        { column: name })
    }
    return [name, type === 'BIGINT' && !allIntegers ? 'DOUBLE' : type] as const
  })
}

/** Accumulates rows into a DuckDB table; the table is created from the first rows' types. */
export class RowTableWriter {
  private appender: DuckDBAppender | undefined
  private appends: Append[] = []
  types: ColumnTypes | undefined
  rows = 0

  constructor(private readonly conn: DuckDBConnection, readonly table: string, private readonly schema?: Record<string, string>,
    types?: ColumnTypes) {
    this.types = types
  }

  async write(rows: readonly Row[]): Promise<void> {
    if (!this.appender) {
      if (rows.length === 0 && !this.types && !this.schema) return
      await this.create(this.types ?? inferColumnTypes(rows, this.schema))
    }
    const appender = this.appender!
    const types = this.types!
    for (const row of rows) {
      for (let i = 0; i < types.length; i++) {
        const v = row[types[i][0]]
        if (v === null || v === undefined) appender.appendNull()
        else this.appends[i](appender, v)
      }
      appender.endRow()
    }
    this.rows += rows.length
  }

  private async create(types: ColumnTypes): Promise<void> {
    this.types = types
    this.appends = types.map(([n, t]) => appenderFor(n, t))
    await this.conn.run(`create or replace table ${quoteIdent(this.table)} (${types.map(([n, t]) => `${quoteIdent(n)} ${t}`).join(', ')})`)
    this.appender = await this.conn.createAppender(this.table)
  }

  /** Flushes and closes; returns false when no table was ever created (no rows, no schema). */
  async finish(): Promise<boolean> {
    if (!this.appender) {
      if (!this.types && !this.schema) return false
      await this.create(this.types ?? inferColumnTypes([], this.schema))
    }
    this.appender!.closeSync()
    return true
  }
}

function arrowTypeFor(duckType: string): DataType {
  const t = duckType.toUpperCase()
  if (t.startsWith('DECIMAL')) return new Float64()
  switch (t) {
    case 'BIGINT': case 'HUGEINT': return new Int64()
    case 'INTEGER': return new Int32()
    case 'SMALLINT': return new Int16()
    case 'TINYINT': return new Int8()
    case 'UBIGINT': return new Uint64()
    case 'UINTEGER': return new Uint32()
    case 'USMALLINT': return new Uint16()
    case 'UTINYINT': return new Uint8()
    case 'DOUBLE': return new Float64()
    case 'FLOAT': return new Float32()
    case 'BOOLEAN': return new Bool()
    case 'BLOB': return new Binary()
    case 'DATE': return new DateMillisecond()
    case 'TIMESTAMP': case 'TIMESTAMP WITH TIME ZONE': return new TimestampMicrosecond()
    default: return new Utf8()
  }
}

function arrowValue(type: DataType, v: unknown): unknown {
  if (v === null || v === undefined) return null
  switch (type.typeId) {
    case Type.Int: return (type as Int64).bitWidth === 64 ? toBigInt(v) : Number(v)
    case Type.Utf8: return typeof v === 'string' ? v : JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x))
    case Type.Timestamp: return v instanceof Date ? v.getTime() : Number(v)
    default: return v
  }
}

/** Builds an Arrow Table from rows with known DuckDB column types. */
export function rowsToArrow(rows: readonly Row[], types: ColumnTypes): Table {
  const fields: Field[] = []
  const vectors: Record<string, Vector> = {}
  for (const [name, duck] of types) {
    const type = arrowTypeFor(duck)
    fields.push(new Field(name, type, true))
    vectors[name] = vectorFromArray(rows.map((r) => arrowValue(type, r[name])), type) as Vector
  }
  if (types.length === 0) return new Table(new Schema([]))
  const schema = new Schema(fields)
  const data = makeData({ type: new Struct(fields), length: rows.length, nullCount: 0, children: fields.map((f) => vectors[f.name].data[0]) })
  return new Table(schema, [new RecordBatch(schema, data)])
}

/** DuckDB types for an Arrow schema (for writing Arrow tables). */
export function duckTypesOfArrow(schema: Schema): ColumnTypes {
  return schema.fields.map((f) => {
    const t = f.type
    switch (t.typeId) {
      case Type.Int: {
        const it = t as Int64
        const base = { 8: 'TINYINT', 16: 'SMALLINT', 32: 'INTEGER', 64: 'BIGINT' }[it.bitWidth as 8 | 16 | 32 | 64]
        return [f.name, it.isSigned ? base : `U${base}`] as const
      }
      case Type.Float: return [f.name, (t as Float64).precision === 0 || (t as Float64).precision === 1 ? 'FLOAT' : 'DOUBLE'] as const
      case Type.Utf8: case Type.LargeUtf8: return [f.name, 'VARCHAR'] as const
      case Type.Bool: return [f.name, 'BOOLEAN'] as const
      case Type.Binary: case Type.LargeBinary: case Type.FixedSizeBinary: return [f.name, 'BLOB'] as const
      case Type.Null: throw smallpondError(SmallpondErrorCode.unsupportedType,
        `smallpond: column ${JSON.stringify(f.name)} has Arrow type Null; accepted: give the column a concrete type`)
      default: throw unsupported(f.name, `Arrow ${String(t)}`)
    }
  })
}

/** Arrow rows as plain JS objects (Int64 stays bigint). */
export function arrowToRows(table: Table): Row[] {
  const names = table.schema.fields.map((f) => f.name)
  const columns = names.map((n) => table.getChild(n)!)
  const rows: Row[] = new Array(table.numRows)
  for (let i = 0; i < table.numRows; i++) {
    const row: Row = {}
    for (let c = 0; c < names.length; c++) row[names[c]] = columns[c].get(i)
    rows[i] = row
  }
  return rows
}

export function isArrowTable(value: unknown): value is Table {
  return value instanceof Table
}
