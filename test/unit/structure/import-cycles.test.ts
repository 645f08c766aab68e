/**
 * No module of src/ imports itself back, directly or through others (type-only imports count):
 * a cycle makes the order modules are evaluated in depend on which one is imported first.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { findCycles, importGraph } from '../../helpers/import-graph.js'

const SRC = fileURLToPath(new URL('../../../src', import.meta.url))

describe('the import graph of src/', () => {
  it('reads the imports (a sanity check: the walk found the modules and their edges)', () => {
    const graph = importGraph(SRC)
    expect(graph.get('discovery/import-module.ts')).toContain('discovery/library.ts')
    expect(graph.get('index.ts')).toEqual(['api.ts', 'discovery/library.ts'])
    expect(graph.size).toBeGreaterThan(100)
  })

  it('has no cycle', () => {
    const cycles = findCycles(importGraph(SRC)).map((c) => c.join(' → '))
    expect(cycles, `import cycles in src/:\n${cycles.join('\n')}`).toEqual([])
  })

  it('finds a cycle and names its path (the check above can fail)', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts', 'd.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', []],
      ['e.ts', ['e.ts']],
    ])
    expect(findCycles(graph)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts'], ['e.ts', 'e.ts']])
  })
})
