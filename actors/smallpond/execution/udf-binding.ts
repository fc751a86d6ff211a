/** Binds UserDefinedFunctions on a task's DuckDB connection. */
import {
  BIGINT, BLOB, BOOLEAN, DOUBLE, DuckDBBlobValue, DuckDBScalarFunction, FLOAT, INTEGER, SMALLINT, TINYINT, UBIGINT, UINTEGER, USMALLINT,
  UTINYINT, VARCHAR, type DuckDBConnection, type DuckDBType,
} from '@duckdb/node-api'
import type { ScalarFunction, UdfType, UserDefinedFunction } from '../logical/udf.ts'
import { resolveUserFunction } from './arrow-tasks.ts'

const TYPES: Record<UdfType, DuckDBType> = {
  BOOLEAN, TINYINT, SMALLINT, INTEGER, BIGINT, UTINYINT, USMALLINT, UINTEGER, UBIGINT, FLOAT, DOUBLE, VARCHAR, BLOB,
}

function toDuck(type: UdfType, v: unknown): unknown {
  if (v === null || v === undefined) return null
  switch (type) {
    case 'BIGINT': case 'UBIGINT': return typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))
    case 'VARCHAR': return String(v)
    case 'BOOLEAN': return Boolean(v)
    case 'BLOB': return v instanceof Uint8Array ? new DuckDBBlobValue(v) : DuckDBBlobValue.fromString(String(v))
    default: return Number(v)
  }
}

function toJs(v: unknown): unknown {
  return v instanceof DuckDBBlobValue ? v.bytes : v
}

export async function bindUdfs(conn: DuckDBConnection, udfs: readonly UserDefinedFunction[]): Promise<void> {
  for (const u of udfs) {
    const fn = await resolveUserFunction<ScalarFunction>(u.fn)
    conn.registerScalarFunction(DuckDBScalarFunction.create({
      name: u.name,
      returnType: TYPES[u.returnType],
      parameterTypes: u.params.map((p) => TYPES[p]),
      mainFunction: (_info, input, output) => {
        const columns = u.params.map((_, c) => input.getColumnValues(c))
        for (let i = 0; i < input.rowCount; i++) {
          output.setItem(i, toDuck(u.returnType, (fn as (...a: unknown[]) => unknown)(...columns.map((col) => toJs(col[i])))) as never)
        }
        output.flush()
      },
    }))
  }
}
