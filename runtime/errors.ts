/**
 * Operating errors: coded classes that cross threads and processes intact.
 *
 * The class lives in native/errors.ts, a leaf module, because native/ sits below runtime/ and must
 * not import it (actors/* -> runtime/ -> native/); this module re-exports it unchanged, so every
 * import of runtime/errors.ts and of native/ sees one T3fsError class (`instanceof` holds across).
 */
export { T3fsError, fromWire, toT3fsError, isT3fsError, invalidOption, describe } from '../native/errors.ts'
export type { ErrorDetails, WireError } from '../native/errors.ts'
