import { Context, Node } from './nodes/node.ts'
import { invalidArgument } from '../errors.ts'

/** A static DAG of nodes with an explain() tree. */
export class LogicalPlan {
  constructor(readonly ctx: Context, readonly rootNode: Node) {
    if (!(rootNode instanceof Node)) throw invalidArgument('rootNode', rootNode, 'a Node')
  }

  /** Every node reachable from the root, each once, dependencies first. */
  get nodes(): Node[] {
    const seen = new Set<number>()
    const out: Node[] = []
    const visit = (n: Node): void => {
      if (seen.has(n.id)) return
      seen.add(n.id)
      for (const d of n.inputDeps) visit(d)
      out.push(n)
    }
    visit(this.rootNode)
    return out
  }

  explainStr(): string {
    const lines: string[] = []
    const visit = (n: Node, depth: number, seen: Set<number>): void => {
      lines.push(`${'  '.repeat(depth)}${n.describe()}${seen.has(n.id) ? ' (shared)' : ''}`)
      if (seen.has(n.id)) return
      seen.add(n.id)
      for (const d of n.inputDeps) visit(d, depth + 1, seen)
    }
    visit(this.rootNode, 0, new Set())
    return lines.join('\n')
  }
}
