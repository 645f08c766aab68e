/**
 * The import graph of src/: every relative `from '….js'`, `import '….js'` and `import('….js')`,
 * type-only imports included (a cycle through types is still two modules that cannot be read
 * apart). Regex over the text, not the compiler: the source style is one import per statement.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const SPEC = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)\.js['"]/gm

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name)
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : []
  })
}

/** file (relative to root) → the files it imports (relative to root) */
export function importGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  for (const file of tsFiles(root)) {
    const text = readFileSync(file, 'utf8')
    const deps = new Set<string>()
    for (const m of text.matchAll(SPEC)) deps.add(relative(root, resolve(dirname(file), `${m[1]}.ts`)))
    graph.set(relative(root, file), [...deps].sort())
  }
  return graph
}

/** Each cycle once, as the path a → b → … → a (depth-first; one cycle per back edge). */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = []
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (node: string) => {
    state.set(node, 'open')
    stack.push(node)
    for (const dep of graph.get(node) ?? []) {
      if (!graph.has(dep)) continue
      if (state.get(dep) === 'open') cycles.push([...stack.slice(stack.indexOf(dep)), dep])
      else if (!state.has(dep)) visit(dep)
    }
    stack.pop()
    state.set(node, 'done')
  }
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node)
  return cycles
}
