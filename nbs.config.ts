import { defineConfig } from 'nbs'

// This repository's own config: the demo run (`npx nbs check`) uses the example checks.
export default defineConfig({
  include: ['examples/checks/**/*.check.{ts,mts,js,mjs,json}', 'checks/**/*.check.{ts,mts,js,mjs,json}', 'plugins/**/*.check.{ts,mts,js,mjs,json}'],
  options: { 'root-free-space': { minFreePercent: 2 } },
})
