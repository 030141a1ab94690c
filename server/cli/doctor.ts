import type { Command, Option } from 'commander';
import { exitCodeFor, type CheckResult } from '../doctor/checks.js';
import { runDoctor } from '../doctor/run.js';
import { CliExit, EXIT } from './exit.js';

const MARKS: Record<CheckResult['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

function line(result: CheckResult): string {
  const head = `${MARKS[result.status]}  ${result.name}: ${result.detail}`;
  return result.fix ? `${head}\n      fix: ${result.fix}\n` : `${head}\n`;
}

interface DoctorCliOptions {
  config?: string;
  json?: boolean;
  dhcpWait: string;
}

/** `homeport doctor`: exit 0 when nothing fails (warnings allowed), 1 otherwise. */
export function registerDoctorCommand(program: Command, configOption: () => Option): void {
  program
    .command('doctor')
    .description('check what stands between a machine and a successful boot; exit 1 when a check fails')
    .addOption(configOption())
    .option('--json', 'print the checks as a JSON array of {name, status, detail, fix}')
    .option('--dhcp-wait <ms>', 'how long to listen for other DHCP servers after one DISCOVER', '4000')
    .action(async (options: DoctorCliOptions) => {
      const dhcpWaitMs = Number(options.dhcpWait);
      if (!Number.isInteger(dhcpWaitMs) || dhcpWaitMs < 100 || dhcpWaitMs > 60_000)
        throw new CliExit(EXIT.usage, '--dhcp-wait must be 100..60000 ms');
      const results = await runDoctor({
        configFile: options.config,
        dhcpWaitMs,
        onResult: options.json ? undefined : (result) => process.stdout.write(line(result)),
      });
      if (options.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
      const code = exitCodeFor(results);
      if (code !== 0) throw new CliExit(code, `${results.filter((r) => r.status === 'fail').length} check(s) failed`);
    });
}
