import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { ExitCode, formatError } from './errors.js'
import { defaultDir } from './defaults.js'
import { processIo, type CliIo } from './io.js'

/**
 * The `quorumkv` command line. Commands load what they need when they run, so `--help` and a
 * mistyped flag answer at once. Exit codes: see ExitCode in errors.ts.
 */
export async function runCli (argv: string[], io: CliIo = processIo): Promise<number> {
  let exitCode: number = ExitCode.Ok
  const set = (code: number): void => { exitCode = code }
  const program = buildProgram(io, set)
  try {
    await program.parseAsync(argv, { from: 'user' })
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage
    const debug = argv.includes('--debug')
    const { text, exitCode: code } = formatError(err, debug)
    io.err(text)
    return code
  }
  return exitCode
}

function collect (value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

function version (): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
    return pkg.version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

function withTarget (cmd: Command): Command {
  return cmd
    .option('--dir <dir>', 'local cluster directory holding cluster.json and the client key', defaultDir)
    .option('--peers <addrs>', 'node multiaddrs ending in /p2p/<peerId>, comma-separated or repeated (instead of --dir)', collect)
    .option('--identity <keyfile>', 'client key file (default: the client key of --dir)')
    .option('--timeout-ms <ms>', 'deadline of the call in milliseconds (default 5000)')
}

type Options = Record<string, unknown>

function buildProgram (io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command()
  program
    .name('quorumkv')
    .description('Run and use a quorumkv cluster: replicated key-value storage over Raft and libp2p.')
    .version(version(), '-V, --version')
    .option('--debug', 'show which node served each call, and stack traces on errors')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeErr: (s) => { io.err(s) }, writeOut: (s) => { io.out(s) } })
  const run = (fn: (...args: unknown[]) => Promise<number | void>) => async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command
    const opts = cmd.optsWithGlobals<Options>()
    const code = await fn(...args.slice(0, -2), opts)
    setExit(typeof code === 'number' ? code : ExitCode.Ok)
  }

  program.command('init')
    .description('create a node identity (and a starter config.json) in a data directory; prints the peer id')
    .requiredOption('--data-dir <dir>', 'the node\'s data directory')
    .option('--name <name>', 'a readable node name for logs and status')
    .option('--listen <multiaddr>', 'listen address for the starter config (repeatable)', collect)
    .action(run(async (o) => { await (await import('./commands/init.js')).runInit(o as never, io) }))

  program.command('start')
    .description('run one node in the foreground; SIGINT/SIGTERM stop it cleanly')
    .option('-c, --config <file>', 'JSON config file (docs/config.md)')
    .option('--data-dir <dir>', 'data directory (overrides the config)')
    .option('--name <name>', 'node name')
    .option('--listen <multiaddr>', 'libp2p listen address, e.g. /ip4/127.0.0.1/tcp/7001 (repeatable)', collect)
    .option('--join <multiaddr>', 'address of a running member to join through (repeatable)', collect)
    .option('--http <addr>', 'serve GET /metrics and /healthz on a port (bound to 127.0.0.1) or host:port')
    .option('--allow-client <peerId>', 'let this client peer id read and write every key, and administer (repeatable)', collect)
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .option('--log-format <format>', 'json or pretty (default: pretty on a terminal, else json)')
    .addHelpText('after', '\nExamples:\n  quorumkv init --data-dir ./n1 --name n1\n  quorumkv start --config ./n1/config.json --http 9464\n')
    .action(run(async (o) => await (await import('./commands/start.js')).runStart(o as never, io)))

  const cluster = program.command('cluster').description('a local cluster of node processes on 127.0.0.1')
  cluster.command('up')
    .description('start a local cluster (foreground until Ctrl-C, or --detach)')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--dir <dir>', 'where identities, configs, data, logs and cluster.json go', defaultDir)
    .option('--base-port <port>', 'node i listens on base-port + i, metrics on base-port + 100 + i; 0 picks free ports', '7001')
    .option('--detach', 'return once the cluster serves and leave it running')
    .option('--log-level <level>', 'node log level', 'info')
    .option('--timeout-ms <ms>', 'how long to wait for a leader (default 60000)')
    .action(run(async (o) => await (await import('./commands/cluster.js')).runClusterUp(o as never, io)))
  cluster.command('down')
    .description('stop the node processes recorded in cluster.json (only those)')
    .option('--dir <dir>', 'the cluster directory', defaultDir)
    .action(run(async (o) => await (await import('./commands/cluster.js')).runClusterDown(o as never, io)))
  cluster.command('status')
    .description('the local processes of the cluster: pids, whether they run, roles')
    .option('--dir <dir>', 'the cluster directory', defaultDir)
    .option('--json', 'print JSON')
    .action(run(async (o) => await (await import('./commands/cluster.js')).runClusterStatus(o as never, io)))

  withTarget(program.command('status'))
    .description('leader, term, commit and applied index, liveness and lag of every member')
    .option('--json', 'print { leader, term, members: [{ peerId, role, alive, appliedIndex, ... }] }')
    .action(run(async (o) => await (await import('./commands/status.js')).runStatus(o as never, io)))

  const consistencyHelp = 'strong, bounded, read-your-writes, causal or eventual (docs/consistency.md)'
  withTarget(program.command('put'))
    .description('write a value (parsed as JSON when it parses, else stored as text)')
    .argument('<key>', 'the key; the part before the first / names its collection')
    .argument('<value>', 'the value: 42, true, {"a":1}, "quoted text", or plain text')
    .option('--consistency <level>', consistencyHelp)
    .option('--if-match <etag>', 'write only if the key\'s current etag is this one')
    .option('--session <token>', 'a session token from an earlier --json output (read-your-writes across calls)')
    .option('--string', 'store the value as text even if it parses as JSON')
    .option('--json', 'print the whole result (key, version, etag, session)')
    .action(run(async (key, value, o) => await (await import('./commands/kv.js')).runPut(key as string, value as string, o as never, io)))
  withTarget(program.command('get'))
    .description('read a value; exit code 3 when the key has none')
    .argument('<key>', 'the key')
    .option('--consistency <level>', consistencyHelp)
    .option('--max-staleness-ms <ms>', 'with --consistency bounded: the most staleness you accept')
    .option('--session <token>', 'a session token from an earlier --json output')
    .option('--json', 'print the whole entry (value, version, etag, session), or null')
    .action(run(async (key, o) => await (await import('./commands/kv.js')).runGet(key as string, o as never, io)))
  withTarget(program.command('del').alias('delete'))
    .description('delete a key')
    .argument('<key>', 'the key')
    .option('--consistency <level>', consistencyHelp)
    .option('--if-match <etag>', 'delete only if the key\'s current etag is this one')
    .option('--session <token>', 'a session token from an earlier --json output')
    .option('--json', 'print the whole result')
    .action(run(async (key, o) => await (await import('./commands/kv.js')).runDelete(key as string, o as never, io)))

  const member = program.command('member').description('cluster membership')
  withTarget(member.command('list'))
    .description('members with their role (voter, learner), gossip liveness and addresses')
    .option('--json', 'print JSON')
    .action(run(async (o) => await (await import('./commands/status.js')).runMemberList(o as never, io)))
  withTarget(member.command('add'))
    .description('add a node (started with --join) as a learner; promote it once it caught up')
    .argument('<peerId>', 'the new node\'s peer id (quorumkv init prints it)')
    .requiredOption('--addr <multiaddr>', 'where the new node listens (repeatable)', collect)
    .action(run(async (peer, o) => await (await import('./commands/status.js')).runMemberChange('add-member', peer as string, o as never, io)))
  withTarget(member.command('promote'))
    .description('make a learner a voter')
    .argument('<peerId>', 'the learner\'s peer id')
    .action(run(async (peer, o) => await (await import('./commands/status.js')).runMemberChange('promote-member', peer as string, o as never, io)))
  withTarget(member.command('remove'))
    .description('take a member out of the cluster (a removed leader steps down)')
    .argument('<peerId>', 'the member\'s peer id')
    .action(run(async (peer, o) => await (await import('./commands/status.js')).runMemberChange('remove-member', peer as string, o as never, io)))

  program.command('bench')
    .description('run the benchmarks (local, strong, quorum, rpc) with a progress line')
    .option('--only <names>', 'comma-separated subset: local, strong, quorum, rpc')
    .option('--duration-ms <ms>', 'measured time per row (default 3000)')
    .option('--skip-etcd', 'do not start etcd as the reference in strong')
    .option('--json', 'print one JSON line with every benchmark\'s rows')
    .action(run(async (o) => await (await import('./commands/bench.js')).runBench(o as never, io)))
  return program
}
