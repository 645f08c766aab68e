/**
 * The package entry: the public API (api.ts), which is also what `import … from
 * 'nixos-build-status'` (or 'nbs') gives the config, check and plugin files this nbs loads (registered here, so a program using nbs as a
 * library loads them against the same instance it imported).
 */
import * as library from './api.js'
import { setLibrary } from './discovery/library.js'

setLibrary(library)

export * from './api.js'
