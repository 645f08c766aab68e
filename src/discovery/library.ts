/**
 * The running nbs, as config, check and plugin files see it: `import … from 'nixos-build-status'`
 * (or its alias 'nbs') in a file the module loader (import-module.ts) loads resolves to the object
 * handed to `setLibrary`, not to a second copy from some node_modules (so a project needs none,
 * and defineCheck & co. stay one instance). The package entry (index.ts) and the CLI hand it in;
 * this module imports nothing, so the loader never imports the public API back.
 */

/**
 * The package names that resolve to the running library: the npm package's own name, and `nbs`,
 * the name it had before (the npm package called `nbs` is someone else's). Another alias is one line.
 */
export const LIBRARY_NAMES: readonly string[] = ['nixos-build-status', 'nbs']

let running: object | undefined

/** Makes `library` (the public API's module namespace) what LIBRARY_NAMES import. */
export function setLibrary(library: object): void {
  running = library
}

/**
 * The loader's virtual modules: every library name → the running library. Empty before
 * `setLibrary` (a program that imports internal modules only): then the names resolve as any
 * other package does.
 */
export function libraryModules(): Record<string, object> {
  const lib = running
  return lib === undefined ? {} : Object.fromEntries(LIBRARY_NAMES.map((name) => [name, lib]))
}
