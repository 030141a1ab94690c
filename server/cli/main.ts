import { nodeAddress } from '../nodes/address.js';
import { Command, Option } from 'commander';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { ConfigError } from '../kernel/config-error.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../log/logger.js';
import { startHomeport } from '../app/homeport.js';
import { migrateLatest, openDatabase } from '../store/db.js';
import { NodesRepo, type Node } from '../store/nodes-repo.js';
import { lookupNode, NODE_REF_RULE } from '../nodes/lookup.js';
import { describeAmbiguity } from '../nodes/ref.js';
import { formatTime } from '../util/time.js';
import { HOMEPORT_VERSION } from '../util/version.js';
import { CliExit, EXIT } from './exit.js';
import { registerDoctorCommand } from './doctor.js';
import { registerJobsCommands } from './jobs.js';
import { registerReprovisionCommands } from './reprovision.js';
import { registerTimelineCommand } from './timeline.js';

export { EXIT } from './exit.js';

function configFrom(options: { config?: string }): LoadedConfig {
  try {
    return loadConfig(options.config);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliExit(EXIT.usage, err.message);
    throw err;
  }
}

async function withStore<T>(options: { config?: string }, use: (nodes: NodesRepo) => Promise<T>): Promise<T> {
  const { config } = configFrom(options);
  const db = openDatabase({ url: config.database.url, ...config.database });
  try {
    await migrateLatest(db.knex);
    return await use(new NodesRepo(db.knex));
  } finally {
    await db.close();
  }
}

function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

const NODE_COLUMNS = 'ID\tMAC\tHOSTNAME\tIP\tPROFILE\tCLUSTER\tPHASE\tREPROVISION\tNETBOOT';

function nodeLine(n: Node): string {
  const cols = [
    String(n.id),
    n.mac,
    n.hostname ?? '-',
    nodeAddress(n) ?? '-',
    n.profile ?? '-',
    n.cluster ?? '-',
    n.deploymentStatus,
    n.reprovisionStatus ?? '-',
    n.netbootEnabled ? 'on' : 'off',
  ];
  return cols.join('\t');
}

const NODE_TIMES: ReadonlySet<keyof Node> = new Set([
  'registeredAt',
  'lastUpdate',
  'phaseStartedAt',
  'reprovisionStarted',
]);

/** `nodes show`: one field a line, as `nodes ls` and the rest of the CLI show them (`-` for none, times as times). */
function nodeFields(node: Node): string[] {
  return (Object.entries(node) as [keyof Node, unknown][]).map(([key, value]) => {
    const shown =
      value === null
        ? '-'
        : NODE_TIMES.has(key)
          ? formatTime(Number(value))
          : typeof value === 'object'
            ? JSON.stringify(value)
            : String(value);
    return `${key.padEnd(22)} ${shown}`;
  });
}

async function serve(options: { config?: string }): Promise<void> {
  const { config, file } = configFrom(options);
  const log = createLogger(config.log.level);
  log.info({ configFile: file ?? '(defaults)' }, 'starting homeport');
  const homeport = await startHomeport(config, { log }).catch((err: unknown) => {
    throw addressInUseHint(err, config) ?? err;
  });
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'signal received');
      homeport.stop().then(resolve, resolve);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}

/** The config keys that choose a port homeport listens on, with the variable that overrides each. */
function listenKeys(config: Config): { key: string; variable: string; port: number }[] {
  return [
    { key: 'http.port', variable: 'HOMEPORT_HTTP__PORT', port: config.http.port },
    { key: 'tftp.port', variable: 'HOMEPORT_TFTP__PORT', port: config.tftp.port },
    { key: 'dhcp.port', variable: 'HOMEPORT_DHCP__PORT', port: config.dhcp.port },
    { key: 'dhcp.proxyPort', variable: 'HOMEPORT_DHCP__PROXYPORT', port: config.dhcp.proxyPort },
  ];
}

/** EADDRINUSE says which address; the admin needs to know which key moves it and who holds it. */
function addressInUseHint(err: unknown, config: Config): CliExit | null {
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  if (e?.code !== 'EADDRINUSE') return null;
  const keys = listenKeys(config).filter((k) => k.port === e.port);
  const moveIt = keys.length ? `; move homeport with ${keys.map((k) => `${k.key} (${k.variable})`).join(' or ')}` : '';
  return new CliExit(
    EXIT.failure,
    `${e.address ?? '*'}:${e.port ?? '?'} is in use by another program (\`homeport doctor\` names it)${moveIt}`,
  );
}

export function buildCli(): Command {
  const program = new Command('homeport')
    .description('Network-boot server with a phone-home API')
    .version(HOMEPORT_VERSION, '-V, --version', 'print the version and exit')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const configOption = () =>
    new Option('-c, --config <file>', 'config file (YAML or JSON); default $HOMEPORT_CONFIG or ./homeport.yaml');

  program
    .command('serve')
    .description('run the server (HTTP, and DHCP/TFTP when configured)')
    .addOption(configOption())
    .action(serve);

  program
    .command('migrate')
    .description('apply database migrations and exit')
    .addOption(configOption())
    .action(async (options: { config?: string }) => {
      await withStore(options, async () => undefined);
      process.stdout.write('database migrated\n');
    });

  const configCmd = program.command('config').description('configuration commands');
  configCmd
    .command('check')
    .description('validate the configuration without starting; exit 2 when invalid')
    .addOption(configOption())
    .option('--json', 'print the effective configuration as JSON')
    .action((options: { config?: string; json?: boolean }) => {
      const { config, file } = configFrom(options);
      if (options.json) printJson({ file, config });
      else process.stdout.write(`config ok (${file ?? 'defaults'})\n`);
    });

  const nodesCmd = program.command('nodes').description('inspect registered nodes');
  nodesCmd
    .command('ls')
    .description('list nodes')
    .addOption(configOption())
    .option('--cluster <name>', 'only nodes of this cluster')
    .option('--json', 'JSON output')
    .action(async (options: { config?: string; cluster?: string; json?: boolean }) => {
      const list = await withStore(options, (nodes) => nodes.list({ cluster: options.cluster }));
      if (options.json) return printJson(list);
      process.stdout.write([NODE_COLUMNS, ...list.map(nodeLine)].join('\n') + '\n');
    });
  nodesCmd
    .command('show <node>')
    .description('show one node by id, MAC or hostname')
    .addOption(configOption())
    .option('--json', 'JSON output')
    .action(async (ref: string, options: { config?: string; json?: boolean }) => {
      const node = await withStore(options, (nodes) => findNode(nodes, ref));
      if (options.json) return printJson(node);
      process.stdout.write(nodeFields(node).join('\n') + '\n');
    });
  registerReprovisionCommands(program, configOption);
  registerJobsCommands(program, nodesCmd, configOption);
  registerDoctorCommand(program, configOption);
  registerTimelineCommand(program, configOption);
  return program;
}

/** The node named by id, MAC or hostname; exit 3 when there is none, 2 when the name is not one or several nodes share it. */
async function findNode(nodes: NodesRepo, ref: string): Promise<Node> {
  const lookup = await lookupNode(nodes, ref);
  switch (lookup.kind) {
    case 'found':
      return lookup.node;
    case 'missing':
      throw new CliExit(EXIT.notFound, `no node ${ref}`);
    case 'invalid':
      throw new CliExit(EXIT.usage, `${ref}: ${NODE_REF_RULE}`);
    case 'ambiguous':
      throw new CliExit(EXIT.usage, describeAmbiguity(ref, lookup.nodes));
  }
}

export async function runCli(argv: string[]): Promise<number> {
  try {
    await buildCli().parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (err instanceof CliExit) {
      process.stderr.write(`homeport: ${err.message}\n`);
      return err.code;
    }
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // --help and --version exit 0; usage errors were already printed by commander.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    process.stderr.write(`homeport: ${(err as Error).message}\n`);
    return EXIT.failure;
  }
}

void runCli(process.argv.slice(2)).then((code) => process.exit(code));
