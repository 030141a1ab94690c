import type { Command, Option } from 'commander';
import { timelineText, type TimelineJson } from '../timeline/present.js';
import { apiFrom, type ApiOptions } from './api.js';
import { CliExit, EXIT } from './exit.js';

/** `homeport timeline MAC|HOSTNAME|ID`: the verdict first, then the latest boot attempt event by event. */
export function registerTimelineCommand(program: Command, configOption: () => Option): void {
  program
    .command('timeline <machine>')
    .description(
      "why a machine did (not) boot: the verdict and its evidence, then its latest boot attempt (DHCP, TFTP, scripts, assets, phone-home) with times relative to the attempt's start",
    )
    .addOption(configOption())
    .option('--url <url>', "homeport base URL (default $HOMEPORT_URL, else the config's http port on 127.0.0.1)")
    .option('--json', 'JSON output (GET /api/nodes/:id/timeline)')
    .addHelpText(
      'after',
      '\n<machine> is a node id, a hostname, or a MAC address (any spelling), also of a machine that is no node yet.\nExits 0 for the verdicts ok and in_progress, 5 for any other (a fault the verdict names).',
    )
    .action(async (machine: string, options: ApiOptions & { json?: boolean }) => {
      const timeline = await apiFrom(options).call<TimelineJson>(
        'GET',
        `/api/nodes/${encodeURIComponent(machine)}/timeline`,
      );
      if (options.json) return void process.stdout.write(JSON.stringify(timeline, null, 2) + '\n');
      process.stdout.write(timelineText(timeline).join('\n') + '\n');
      if (timeline.verdict.verdict !== 'ok' && timeline.verdict.verdict !== 'in_progress')
        throw new CliExit(EXIT.nodeFailed, `verdict: ${timeline.verdict.verdict}`);
    });
}
