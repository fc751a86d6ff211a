/**
 * smallpond's only optimization: fuse consecutive single-input SQL nodes by textual nesting,
 * `parent.format("(child)")`. Unlike smallpond, only `{0}` is substituted, so named placeholders
 * (`{__data_partition__}`, `{rand_seed}`) survive fusion; limits and computed nodes are never fused.
 */
import type { Node } from './nodes/node.ts'
import { SqlEngineNode } from './nodes/sql-engine-node.ts'
import { LimitNode } from './nodes/limit-node.ts'
import { substituteFirstInput, usesOtherInputs } from '../execution/sql-template.ts'

export class Optimizer {
  private readonly memo = new Map<number, Node>()

  /** `isComputed(node)` protects nodes whose results are already kept (they are reused, not fused). */
  constructor(private readonly isComputed: (node: Node) => boolean = () => false) {}

  optimize(node: Node): Node {
    const cached = this.memo.get(node.id)
    if (cached) return cached
    const result = this.rewrite(node)
    this.memo.set(node.id, result)
    return result
  }

  private rewrite(node: Node): Node {
    if (this.isComputed(node) || node.inputDeps.length === 0) return node
    const inputs = node.inputDeps.map((d) => this.optimize(d))
    const rebuilt = inputs.every((d, i) => d === node.inputDeps[i]) ? node : cloneWithInputs(node, inputs)
    if (!(rebuilt instanceof SqlEngineNode) || rebuilt instanceof LimitNode || inputs.length !== 1) return rebuilt
    const child = inputs[0]
    if (!(child instanceof SqlEngineNode) || child instanceof LimitNode || this.isComputed(child)) return rebuilt
    if (child.outputName || child.outputPath || rebuilt.sqlQueries.some(usesOtherInputs) || child.options.materializeOutput === false) return rebuilt
    const last = child.sqlQueries[child.sqlQueries.length - 1].trim().replace(/;+\s*$/, '')
    const queries = [...child.sqlQueries.slice(0, -1), ...rebuilt.sqlQueries.map((q) => substituteFirstInput(q, `(${last})`))]
    return new SqlEngineNode(rebuilt.ctx, child.inputDeps, queries, {
      ...child.options, ...rebuilt.options,
      udfs: [...(child.options.udfs ?? []), ...(rebuilt.options.udfs ?? [])],
      cpuLimit: Math.max(child.cpuLimit, rebuilt.cpuLimit),
      memoryLimitBytes: maxDefined(child.memoryLimitBytes, rebuilt.memoryLimitBytes),
    })
  }
}

function maxDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b)
}

/** A shallow copy of `node` over new inputs (same class and parameters, a fresh id). */
function cloneWithInputs(node: Node, inputs: readonly Node[]): Node {
  const copy = Object.create(Object.getPrototypeOf(node)) as Node
  Object.assign(copy, node, { inputDeps: inputs, id: node.ctx.nextNodeId() })
  return copy
}
