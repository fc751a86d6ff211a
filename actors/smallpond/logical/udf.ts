/**
 * Scalar UDFs for SQL nodes (smallpond's @udf): a JS function over DuckDB scalar values, bound on
 * each task's fresh DuckDB connection. A module reference ships to worker hosts; a closure runs only
 * in-process.
 */
import { checkUserFunction, type UserFunction } from './nodes/node.ts'
import { invalidArgument } from '../errors.ts'

export const UDF_TYPES = ['BOOLEAN', 'TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT',
  'FLOAT', 'DOUBLE', 'VARCHAR', 'BLOB'] as const
export type UdfType = typeof UDF_TYPES[number]

export type ScalarFunction = (...args: never[]) => unknown

export interface UserDefinedFunction {
  readonly name: string
  readonly params: readonly UdfType[]
  readonly returnType: UdfType
  readonly fn: UserFunction<ScalarFunction>
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

function checkType(what: string, t: unknown): UdfType {
  const upper = typeof t === 'string' ? t.toUpperCase() : t
  if (!(UDF_TYPES as readonly unknown[]).includes(upper)) throw invalidArgument(what, t, UDF_TYPES.join(' | '))
  return upper as UdfType
}

/** `udf({ name: 'plus1', params: ['BIGINT'], returnType: 'BIGINT', fn: (x) => x + 1n })`. */
export function udf(spec: { name: string; params: readonly string[]; returnType: string; fn: UserFunction<ScalarFunction> }): UserDefinedFunction {
  if (typeof spec?.name !== 'string' || !NAME.test(spec.name)) throw invalidArgument('udf name', spec?.name, 'an SQL identifier ([A-Za-z_][A-Za-z0-9_]*)')
  if (!Array.isArray(spec.params)) throw invalidArgument('udf params', spec.params, `a list of ${UDF_TYPES.join(' | ')}`)
  checkUserFunction('udf fn', spec.fn)
  return { name: spec.name, params: spec.params.map((p, i) => checkType(`udf params[${i}]`, p)), returnType: checkType('udf returnType', spec.returnType), fn: spec.fn }
}
