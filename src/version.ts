/** nbs's own version, from its package.json. */
export { VERSION } from './package-root.js'
