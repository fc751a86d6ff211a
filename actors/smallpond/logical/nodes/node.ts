/**
 * Context and the Node base of the logical plan. Node ids are a deterministic counter per Context
 * (ids start at 1), so the same program builds the same plan.
 */
import { isAbsolute } from 'node:path'
import { invalidArgument } from '../../errors.ts'

export class Context {
  private nextId = 1
  nextNodeId(): number {
    return this.nextId++
  }
}

export interface NodeOptions {
  /** Names the output dirs and files; a named node gets its own sink under output/{outputName}. */
  outputName?: string
  /** An absolute custom output root. */
  outputPath?: string
  cpuLimit?: number
  memoryLimitBytes?: number
}

const OUTPUT_NAME = /^[a-zA-Z0-9_]+$/

export abstract class Node {
  abstract readonly kind: string
  readonly id: number
  readonly inputDeps: readonly Node[]
  readonly outputName: string | undefined
  readonly outputPath: string | undefined
  readonly cpuLimit: number
  readonly memoryLimitBytes: number | undefined

  constructor(readonly ctx: Context, inputDeps: readonly Node[], options: NodeOptions = {}) {
    if (!(ctx instanceof Context)) throw invalidArgument('ctx', ctx, 'a smallpond Context')
    for (const dep of inputDeps) {
      if (!(dep instanceof Node)) throw invalidArgument('inputDeps', dep, 'Node instances')
    }
    if (options.outputName !== undefined && !OUTPUT_NAME.test(options.outputName)) {
      throw invalidArgument('outputName', options.outputName, 'letters, digits and _ only ([a-zA-Z0-9_]+)')
    }
    if (options.outputPath !== undefined && !isAbsolute(options.outputPath)) {
      throw invalidArgument('outputPath', options.outputPath, 'an absolute path')
    }
    const cpu = options.cpuLimit ?? 1
    if (!Number.isInteger(cpu) || cpu < 1 || cpu > 1024) throw invalidArgument('cpuLimit', cpu, 'an integer in 1..1024')
    const mem = options.memoryLimitBytes
    if (mem !== undefined && (!Number.isInteger(mem) || mem < 1 << 20)) {
      throw invalidArgument('memoryLimitBytes', mem, 'an integer number of bytes >= 1 MiB')
    }
    this.id = ctx.nextNodeId()
    this.inputDeps = inputDeps
    this.outputName = options.outputName
    this.outputPath = options.outputPath
    this.cpuLimit = cpu
    this.memoryLimitBytes = mem
  }

  /** `000003`, smallpond's zero-padded node id. */
  get idString(): string {
    return String(this.id).padStart(6, '0')
  }

  get className(): string {
    return this.constructor.name
  }

  /** One line for explain(): class, id, and the node's own parameters. */
  describe(): string {
    const name = this.outputName ? ` output_name=${this.outputName}` : ''
    return `${this.className}-${this.idString}${name}${this.describeParams()}`
  }

  protected describeParams(): string {
    return ''
  }
}

export interface ModuleFunctionRef {
  readonly module: string
  readonly export: string
}

/** A user function: a closure (runs in the task's thread only) or a module reference (ships anywhere). */
export type UserFunction<F> = F | ModuleFunctionRef

export function isModuleRef(value: unknown): value is ModuleFunctionRef {
  return typeof value === 'object' && value !== null &&
    typeof (value as ModuleFunctionRef).module === 'string' && typeof (value as ModuleFunctionRef).export === 'string'
}

export function checkUserFunction(name: string, value: unknown): void {
  if (typeof value !== 'function' && !isModuleRef(value)) {
    throw invalidArgument(name, value, 'a function, or a module reference { module: URL string, export: name }')
  }
}
