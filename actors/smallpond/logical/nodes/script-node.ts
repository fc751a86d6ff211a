/**
 * smallpond's PythonScriptNode in TypeScript: arbitrary code per partition that writes files into
 * its output dir; the output is a FileSet of everything written (or Parquet when all are .parquet).
 */
import { Context, Node, checkUserFunction, type NodeOptions, type UserFunction } from './node.ts'
import type { DataSetSpec } from '../dataset.ts'
import type { TaskRuntimeContext } from './arrow-nodes.ts'

/** Returns false (or throws) to fail the task. */
export type ScriptFunction = (ctx: TaskRuntimeContext, inputs: DataSetSpec[], outputPath: string) => boolean | void | Promise<boolean | void>

export class ScriptNode extends Node {
  readonly kind = 'script'
  readonly processFunc: UserFunction<ScriptFunction>
  constructor(ctx: Context, inputDeps: readonly Node[], processFunc: UserFunction<ScriptFunction>, options: NodeOptions = {}) {
    super(ctx, inputDeps, options)
    checkUserFunction('processFunc', processFunc)
    this.processFunc = processFunc
  }
}

/** The smallpond name, for recognisability. */
export const PythonScriptNode = ScriptNode
