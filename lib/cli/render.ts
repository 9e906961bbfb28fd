// `ses-relay render`: prints the Postfix boot script (or its #cloud-config form) on stdout.
import { BootstrapFormat, type BootstrapOptions } from '../bootstrap/options';
import { renderBootstrap, USER_DATA_LIMIT } from '../bootstrap/render';
import { resolveBootstrapOptions } from '../bootstrap/resolve';
import { numberFrom, splitList } from '../private/parse';
import type { CliIo } from './io';
import { UsageError } from './io';

/** The options as text, named as BootstrapOptions names them (`--smtp-region` is smtpRegion). */
export interface RenderOptions {
  readonly smtpRegion?: string;
  readonly secretId?: string;
  readonly secretRegion?: string;
  readonly smtpPort?: string;
  readonly smtpEndpoint?: string;
  readonly fips?: boolean;
  readonly relayNetworks?: string;
  readonly configurationSetName?: string;
  readonly maxSendRate?: string;
  readonly relayCount?: string;
  readonly format?: string;
}

const FORMATS = Object.values(BootstrapFormat) as string[];

/** `smtpPort` as the command line spells it: `--smtp-port`. */
export function flag(option: string): string {
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** A number option's text as a number; the text itself in the error when it is not one. */
function numberOption(options: RenderOptions, name: 'smtpPort' | 'maxSendRate' | 'relayCount'): number | undefined {
  const text = options[name];
  const value = numberFrom(text, name === 'maxSendRate');
  if (Number.isNaN(value)) {
    throw new UsageError(
      `${flag(name)}: ${JSON.stringify(text)} is not a ${name === 'maxSendRate' ? 'number, e.g. 14 or 2.5' : 'whole number'}`,
    );
  }
  return value;
}

export async function renderCommand(options: RenderOptions, io: CliIo): Promise<number> {
  if (options.format !== undefined && !FORMATS.includes(options.format)) {
    throw new UsageError(`--format: invalid format ${JSON.stringify(options.format)}: allowed: ${FORMATS.join(', ')}`);
  }
  if (!options.secretId) {
    throw new UsageError('--secret-id is required: the name or ARN of the secret holding the SMTP credentials');
  }
  const bootstrap: BootstrapOptions = {
    smtpRegion: options.smtpRegion ?? '',
    secretId: options.secretId,
    secretRegion: options.secretRegion,
    smtpPort: numberOption(options, 'smtpPort'),
    smtpEndpoint: options.smtpEndpoint,
    fips: options.fips,
    relayNetworks: splitList(options.relayNetworks),
    configurationSetName: options.configurationSetName,
    maxSendRate: numberOption(options, 'maxSendRate'),
    relayCount: numberOption(options, 'relayCount'),
  };
  const warnings: string[] = [];
  let text: string;
  try {
    text = renderBootstrap(
      resolveBootstrapOptions(bootstrap, warnings, flag),
      (options.format ?? BootstrapFormat.SHELL) as BootstrapFormat,
    );
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const size = Buffer.byteLength(text);
  if (size > USER_DATA_LIMIT) {
    warnings.push(
      `the output is ${size} bytes, more than EC2's ${USER_DATA_LIMIT} bytes of user data: run it on the host another way ` +
        '(copy it and run it with bash as root), or use the SesRelay construct, which ships the program from S3',
    );
  }
  for (const warning of warnings) io.stderr(`warning: ${warning}\n`);
  io.stdout(text);
  return 0;
}
