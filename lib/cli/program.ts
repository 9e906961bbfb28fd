// The `ses-relay` command line: parses arguments with commander and dispatches to one function
// per command. Bad input ends with a message on stderr and exit code 2, never a stack trace.
import { Command, CommanderError } from 'commander';
import { doctorCommand } from './doctor';
import type { CliIo } from './io';
import { UsageError } from './io';
import { renderCommand } from './render';
import { smtpPasswordCommand } from './smtp-password';

function program(io: CliIo, result: { code: number }): Command {
  const cli = new Command('ses-relay')
    .description('Send mail from EC2 through Amazon SES with Postfix')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)');

  cli
    .command('smtp-password')
    .description('derive the SES SMTP password from an IAM secret access key read on stdin')
    .option('--smtp-region <region>', 'SES region the password is for, e.g. eu-west-1')
    .action(async (opts) => {
      result.code = await smtpPasswordCommand(opts, io);
    });

  cli
    .command('render')
    .description('print the boot script that configures Postfix to relay through SES')
    .option('--smtp-region <region>', 'SES region whose SMTP endpoint relays the mail, e.g. eu-west-1')
    .option('--secret-id <id>', 'name or ARN of the Secrets Manager secret with the SMTP credentials')
    .option('--secret-region <region>', 'region of the secret (default: --smtp-region)')
    .option('--smtp-port <port>', 'SES SMTP port: 25, 587, 2587 (STARTTLS), 465, 2465 (TLS wrapper)', '587')
    .option('--smtp-endpoint <host>', 'connect to this host instead, e.g. an SES VPC endpoint DNS name')
    .option('--fips', 'use the FIPS SMTP endpoint of the region')
    .option('--relay-networks <cidrs>', 'relay hub mode: comma-separated IPv4 CIDRs allowed to relay')
    .option('--configuration-set-name <name>', 'add X-SES-CONFIGURATION-SET to messages that have none')
    .option(
      '--max-send-rate <n>',
      'recipients per second all relays keep to (default: the account quota, read at boot)',
    )
    .option('--relay-count <n>', 'how many relays share that rate; each keeps to rate / n', '1')
    .option('--format <format>', 'shell or cloud-config', 'shell')
    .action(async (opts) => {
      result.code = await renderCommand(opts, io);
    });

  cli
    .command('doctor')
    .description('tell why mail from an identity is or is not flowing through SES')
    .option('--smtp-region <region>', 'SES region, e.g. eu-west-1')
    .option('--identity <name>', 'the domain or address you send from')
    .option('--configuration-set-name <name>', 'also check that this configuration set exists')
    .option('--secret-id <id>', 'also check the SMTP key of these credentials: its age, last and next rotation')
    .option('--secret-region <region>', 'region of the secret (default: --smtp-region)')
    .option('--json', 'print the report as JSON')
    .action(async (opts) => {
      result.code = await doctorCommand(opts, io);
    });

  return cli;
}

/** Runs the CLI on arguments (without `node` and the script name); returns the exit code. */
export async function runCli(args: string[], io: CliIo): Promise<number> {
  const result = { code: 0 };
  try {
    await program(io, result).parseAsync(args, { from: 'user' });
    return result.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its message (or the help, with exit code 0).
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError) {
      io.stderr(`ses-relay: ${err.message}\n`);
      return 2;
    }
    io.stderr(`ses-relay: ${(err as Error).message ?? String(err)}\n`);
    return 1;
  }
}
