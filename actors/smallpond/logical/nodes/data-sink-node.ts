import { isAbsolute } from 'node:path'
import { Context, Node } from './node.ts'
import { invalidArgument } from '../../errors.ts'

export type DataSinkType = 'link' | 'copy' | 'link_or_copy' | 'manifest'
export const DATA_SINK_TYPES: readonly DataSinkType[] = ['link', 'copy', 'link_or_copy', 'manifest']
export const MANIFEST_FILENAME = '.MANIFEST.txt'

/**
 * Collects all input files into `outputPath` and writes `.MANIFEST.txt`.
 * link: one task, hard links (symlinks across mounts). copy / link_or_copy: one task per input
 * partition into `.staging/`, then one task that renames conflicting basenames and publishes.
 * manifest: only the manifest of source paths.
 */
export class DataSinkNode extends Node {
  readonly kind = 'data-sink'
  readonly path: string
  readonly type: DataSinkType
  readonly isFinalNode: boolean
  constructor(ctx: Context, inputDeps: readonly Node[], outputPath: string,
    options: { type?: DataSinkType; isFinalNode?: boolean } = {}) {
    super(ctx, inputDeps)
    if (typeof outputPath !== 'string' || !isAbsolute(outputPath)) {
      throw invalidArgument('outputPath', outputPath, 'an absolute directory path')
    }
    const type = options.type ?? 'link'
    if (!DATA_SINK_TYPES.includes(type)) throw invalidArgument('type', type, DATA_SINK_TYPES.join(' | '))
    this.path = outputPath
    this.type = type
    this.isFinalNode = options.isFinalNode ?? false
  }
  protected override describeParams(): string {
    return ` type=${this.type} path=${this.path}`
  }
}
