import { defineConfig } from 'nixos-build-status'

// This repository's own config: the demo run (`node dist/cli.js check`, the README's first
// command) checks the input-less example flake with the built-in checks, plus the example checks
// in examples/checks/.
export default defineConfig({
  flake: './examples/demo',
  host: 'demo',
  // the demo needs no binary cache: stay offline instead of waiting on network retries
  nixOptions: { substituters: '' },
  include: ['examples/checks/**/*.check.{ts,mts,js,mjs,json}', 'checks/**/*.check.{ts,mts,js,mjs,json}', 'plugins/**/*.check.{ts,mts,js,mjs,json}'],
  options: { 'root-free-space': { minFreePercent: 2 } },
})
