/**
 * Module URLs for the two ways this package runs: from its TypeScript sources (a checkout, through
 * tsx) and compiled to dist/ (an installed package, plain node). The compiler rewrites `./x.ts` in
 * import statements, not in URLs, so code that names a module by URL (worker entries, actor and
 * row-function modules) asks here for the file that matches the code that is running.
 */
import { existsSync } from 'node:fs'
import { relative, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** This file is dist/runtime/module-url.js in a built package, runtime/module-url.ts in a checkout. */
export const runningCompiled = import.meta.url.endsWith('.js')
const packageRoot = fileURLToPath(new URL(runningCompiled ? '../../' : '../', import.meta.url))
const distRoot = `${packageRoot}dist${sep}`

/** `relative` resolved against `base` (an import.meta.url); a `.ts` name becomes `.js` when `base` is compiled. */
export function siblingModule(relativeName: string, base: string): URL {
  const url = new URL(relativeName, base)
  if (base.endsWith('.js') && url.pathname.endsWith('.ts') && !url.pathname.endsWith('.d.ts')) {
    url.pathname = `${url.pathname.slice(0, -'.ts'.length)}.js`
  }
  return url
}

/**
 * A module of this package named by its source file (a profile's `actors/mgmtd/mgmtd-actor.ts`)
 * becomes its compiled file when this package runs compiled, so one process never loads both
 * copies of a module (two T3fsError classes, two registries). Modules outside the package, or
 * without a compiled counterpart (a test fixture in a checkout), are returned unchanged.
 */
export function compiledModule(href: string): string {
  if (!runningCompiled || !href.startsWith('file:')) return href
  const path = fileURLToPath(href)
  if (!/\.[cm]?ts$/.test(path) || path.endsWith('.d.ts')) return href
  const inPackage = relative(packageRoot, path)
  if (inPackage.startsWith('..') || path.startsWith(distRoot) || inPackage.split(sep).includes('node_modules')) return href
  const compiled = `${distRoot}${inPackage.replace(/\.([cm]?)ts$/, '.$1js')}`
  return existsSync(compiled) ? pathToFileURL(compiled).href : href
}
