// `ses-relay render`: prints the Postfix boot script (or its #cloud-config form) on stdout.
import { BootstrapFormat, renderBootstrap, resolveBootstrapOptions } from '../bootstrap';
import { numberFrom, splitList } from '../private/parse';
import type { CliIo } from './io';
import { UsageError } from './io';

export interface RenderOptions {
  readonly region?: string;
  readonly secretId?: string;
  readonly secretRegion?: string;
  readonly port?: string;
  readonly endpoint?: string;
  readonly fips?: boolean;
  readonly relayNetworks?: string;
  readonly configurationSet?: string;
  readonly format?: string;
  readonly maxSendRate?: string;
  readonly relays?: string;
}

const FORMATS = Object.values(BootstrapFormat) as string[];

export async function renderCommand(options: RenderOptions, io: CliIo): Promise<number> {
  if (options.format !== undefined && !FORMATS.includes(options.format)) {
    throw new UsageError(`invalid format ${JSON.stringify(options.format)}: allowed: ${FORMATS.join(', ')}`);
  }
  const port = numberFrom(options.port);
  if (Number.isNaN(port)) {
    throw new UsageError(`invalid port ${JSON.stringify(options.port)}: SES SMTP listens on 25, 587, 2587, 465, 2465`);
  }
  const maxSendRate = numberFrom(options.maxSendRate, true);
  if (Number.isNaN(maxSendRate)) {
    throw new UsageError(`invalid max send rate ${JSON.stringify(options.maxSendRate)}: messages per second, e.g. 14`);
  }
  const relays = numberFrom(options.relays);
  if (Number.isNaN(relays)) {
    throw new UsageError(`invalid relay count ${JSON.stringify(options.relays)}: a whole number, e.g. 2`);
  }
  if (!options.secretId) {
    throw new UsageError('--secret-id is required: the name or ARN of the secret holding the SMTP credentials');
  }
  const bootstrap = {
    region: options.region ?? '',
    secretId: options.secretId,
    secretRegion: options.secretRegion,
    port,
    endpoint: options.endpoint,
    fips: options.fips,
    relayNetworks: splitList(options.relayNetworks),
    configurationSet: options.configurationSet,
    maxSendRate,
    relays,
  };
  let text: string;
  try {
    for (const warning of resolveBootstrapOptions(bootstrap).warnings) io.stderr(`warning: ${warning}\n`);
    text = renderBootstrap(bootstrap, (options.format ?? BootstrapFormat.SHELL) as BootstrapFormat);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  io.stdout(text);
  return 0;
}
