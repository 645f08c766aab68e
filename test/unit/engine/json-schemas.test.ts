import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Ajv2020 from 'ajv/dist/2020.js'
import { describe, expect, it } from 'vitest'
import { jsonSchemas } from '../../../src/schemas/json-schemas.js'
import { REPO_ROOT } from '../../helpers/project.js'

const shipped = (name: string) => JSON.parse(readFileSync(join(REPO_ROOT, 'schemas', name), 'utf8'))
const validator = (name: string) => new Ajv2020.default({ strict: false, allErrors: true }).compile(shipped(name))

describe('shipped JSON Schemas', () => {
  it('are the ones generated from the zod schemas (no drift)', () => {
    for (const [name, schema] of Object.entries(jsonSchemas())) expect(shipped(name), name).toEqual(JSON.parse(JSON.stringify(schema)))
  })

  it('check.schema.json accepts the example JSON check and rejects what the loader rejects', () => {
    const validate = validator('check.schema.json')
    expect(validate(JSON.parse(readFileSync(join(REPO_ROOT, 'examples/checks/host.check.json'), 'utf8')))).toBe(true)
    expect(validate([{ id: 'a', command: ['true'], expect: { exitCode: [0, 1], json: [{ path: '.x', length: 2 }] } }])).toBe(true)
    for (const bad of [{ id: 'a' }, { id: 'Not Kebab', command: ['true'] }, { id: 'a', command: [] }, { id: 'a', command: ['true'], typo: 1 }, { id: 'a', command: ['x'], timeout: '5 parsecs' }]) {
      expect(validate(bad), JSON.stringify(bad)).toBe(false)
    }
  })

  it('config.schema.json accepts a valid config and rejects unknown keys', () => {
    const validate = validator('config.schema.json')
    expect(validate({ flake: '.', phases: ['a', 'b'], concurrency: 4, timeout: '90s', disable: ['x'], options: { x: { y: 1 } } })).toBe(true)
    expect(validate({ concurrency: 'lots' })).toBe(false)
    expect(validate({ flakes: '.' })).toBe(false)
  })

  it('config.schema.json knows the inventory fields: hosts with targetHost, port, user, tags, sshOptions, privilege; parallel; allowUnreachable', () => {
    const validate = validator('config.schema.json')
    const web1 = { targetHost: 'root@web1.example.org', port: 22, user: 'root', tags: ['web'], sshOptions: ['-J', 'bastion'], privilege: ['sudo', '-n'], local: false }
    expect(validate({ hosts: { web1 }, parallel: 0, allowUnreachable: true })).toBe(true)
    for (const bad of [{ hosts: { web1: { port: '22' } } }, { hosts: { web1: { port: 0 } } }, { hosts: { web1: { sshOpts: [] } } }, { hosts: { web1: { tags: 'web' } } }, { parallel: -1 }, { parallel: 1.5 }, { allowUnreachable: 'yes' }]) {
      expect(validate(bad), JSON.stringify(bad)).toBe(false)
    }
  })
})
