// The `quorumkv` command (bin/quorumkv.js loads the polyfill and the TypeScript loader first).
import { runCli } from './program.js'

const code = await runCli(process.argv.slice(2))
// Exit explicitly: a stopped libp2p peer can leave timers behind. Wait for stdout and stderr to
// take everything written first (an empty write calls back after the ones before it).
await Promise.all([process.stdout, process.stderr].map(async (s) => { await new Promise<void>(resolve => { s.write('', () => { resolve() }) }) }))
process.exit(code)
