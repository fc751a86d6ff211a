// The piscina worker of CpuPool: runs `export` of `module` on the task's input. Plain JS so that
// piscina can start it directly; TypeScript task modules get tsx registered first.
const loaded = new Map()
let tsxRegistered = false

async function load(specifier) {
  let module = loaded.get(specifier)
  if (module === undefined) {
    if (specifier.endsWith('.ts') && !tsxRegistered) {
      const api = await import('tsx/esm/api').catch(() => null)
      if (api === null) {
        const error = new Error(`${specifier} is TypeScript and tsx (its loader) is not installed; accepted: a .js module, or install tsx`)
        error.code = 'ERR_TYPESCRIPT_LOADER'
        throw error
      }
      api.register()
      tsxRegistered = true
    }
    module = await import(specifier)
    loaded.set(specifier, module)
  }
  return module
}

// Errors are returned, not thrown: a thrown error crosses threads without its `code`.
export default async function run({ module, export: name, input }) {
  try {
    const loadedModule = await load(module)
    const fn = loadedModule[name]
    if (typeof fn !== 'function') {
      return { ok: false, code: 'ERR_DEFINITION_NOT_FOUND', message: `${module} has no function exported as ${JSON.stringify(name)}` }
    }
    return { ok: true, value: await fn(input) }
  } catch (error) {
    const code = typeof error?.code === 'string' ? error.code : 'ERR_POOL_TASK_FAILED'
    return { ok: false, code, message: error instanceof Error ? error.message : String(error) }
  }
}
