/** Build step: writes the JSON Schemas into schemas/ (run by `npm run build`). */
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { jsonSchemas } from './json-schemas.js'

const dir = fileURLToPath(new URL('../../schemas/', import.meta.url))
mkdirSync(dir, { recursive: true })
for (const [name, schema] of Object.entries(jsonSchemas())) writeFileSync(`${dir}${name}`, `${JSON.stringify(schema, null, 2)}\n`)
