// `ses-relay smtp-password`: the SES SMTP password for an IAM secret access key read from stdin.
import { checkRegion } from '../smtp/endpoints';
import { SmtpPassword } from '../smtp/smtp-password';
import type { CliIo } from './io';
import { UsageError } from './io';

export interface SmtpPasswordOptions {
  readonly smtpRegion?: string;
}

export async function smtpPasswordCommand(options: SmtpPasswordOptions, io: CliIo): Promise<number> {
  let smtpRegion: string;
  try {
    smtpRegion = checkRegion(options.smtpRegion);
  } catch (err) {
    throw new UsageError(`--smtp-region: ${(err as Error).message}`);
  }
  if (io.stdinIsTty) {
    throw new UsageError(
      'refusing to read the secret access key from a terminal, where it would be echoed; pipe it in, e.g.\n' +
        '  aws configure get aws_secret_access_key | npx ses-relay smtp-password --smtp-region eu-west-1',
    );
  }
  const key = (await io.readStdin()).replace(/\r?\n$/, '');
  if (key === '') {
    throw new UsageError('no secret access key on standard input; pipe the IAM secret access key in');
  }
  try {
    io.stdout(`${SmtpPassword.derive(key, smtpRegion)}\n`);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return 0;
}
