import { readFileSync } from 'node:fs'

/** nbs's own version, from its package.json (read once, synchronously: it is tiny). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
