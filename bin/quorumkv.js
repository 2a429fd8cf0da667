#!/usr/bin/env node
// The `quorumkv` command: the Node 20 polyfill and the TypeScript loader, then the CLI.
import '../src/runtime/register.js'

await import('../src/cli/main.ts')
