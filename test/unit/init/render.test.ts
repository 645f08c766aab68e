import { expect, it } from 'vitest'
import { renderConfig } from '../../../src/init/render.js'

it("a Nix error in the hosts note stays inside its comment, whatever line terminator it holds", () => {
  const note = "nix could not read nixosConfigurations: a\u2028evil();\rb\nc"
  const text = renderConfig({ hosts: undefined, ci: 'none', hostsNote: note })
  // JavaScript ends a `//` comment at any of these: none may appear inside the note's line
  const lines = text.split(/\r\n|[\r\n\u2028\u2029]/)
  const line = lines.find((l) => l.includes('no hosts listed'))!
  expect(line.trimStart().startsWith('//')).toBe(true)
  expect(line).toContain('evil();')
  expect(lines.filter((l) => l.includes('evil()'))).toHaveLength(1)
})
