import type { AnyActorDefinition } from './actor.ts'
import { T3fsError } from './errors.ts'
import type { DefinitionRef } from './host-control.ts'
import { compiledModule } from './module-url.ts'

/**
 * Imports an actor definition named by module URL and export, with a clear error when it is not one.
 * This package's own modules named by source file load compiled in a built package (module-url.ts).
 */
export async function loadDefinition(ref: DefinitionRef): Promise<AnyActorDefinition> {
  let module: Record<string, unknown>
  try {
    module = (await import(compiledModule(ref.module))) as Record<string, unknown>
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error)
    const hint = (error as { code?: unknown }).code === 'ERR_UNKNOWN_FILE_EXTENSION'
      ? '; a TypeScript module needs a loader in every thread (start node with `--import tsx`) or compiling to .js'
      : ''
    throw new T3fsError('ERR_DEFINITION_NOT_FOUND', `cannot import actor module ${ref.module}: ${why}${hint}`, { module: ref.module })
  }
  const definition = module[ref.export] as Partial<AnyActorDefinition> | undefined
  if (definition === undefined || typeof definition.handle !== 'function' || typeof definition.init !== 'function') {
    throw new T3fsError(
      'ERR_DEFINITION_NOT_FOUND',
      `${ref.module} has no actor definition exported as ${JSON.stringify(ref.export)}; accepted: an export made with defineActor(...)`,
      { module: ref.module, export: ref.export },
    )
  }
  return definition as AnyActorDefinition
}
