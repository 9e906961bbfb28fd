// `ses-relay render`: prints the Postfix boot script (or its #cloud-config form) on stdout.
import { BootstrapFormat, renderBootstrap, resolveBootstrapOptions } from '../bootstrap';
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
}

const FORMATS = Object.values(BootstrapFormat) as string[];

export async function renderCommand(options: RenderOptions, io: CliIo): Promise<number> {
  if (options.format !== undefined && !FORMATS.includes(options.format)) {
    throw new UsageError(`invalid format ${JSON.stringify(options.format)}: allowed: ${FORMATS.join(', ')}`);
  }
  if (options.port !== undefined && !/^[0-9]+$/.test(options.port)) {
    throw new UsageError(`invalid port ${JSON.stringify(options.port)}: SES SMTP listens on 25, 587, 2587, 465, 2465`);
  }
  if (options.maxSendRate !== undefined && !/^[0-9]+(\.[0-9]+)?$/.test(options.maxSendRate)) {
    throw new UsageError(`invalid max send rate ${JSON.stringify(options.maxSendRate)}: messages per second, e.g. 14`);
  }
  if (!options.secretId) {
    throw new UsageError('--secret-id is required: the name or ARN of the secret holding the SMTP credentials');
  }
  const bootstrap = {
    region: options.region ?? '',
    secretId: options.secretId,
    secretRegion: options.secretRegion,
    port: options.port === undefined ? undefined : Number(options.port),
    endpoint: options.endpoint,
    fips: options.fips,
    relayNetworks: options.relayNetworks
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    configurationSet: options.configurationSet,
    maxSendRate: options.maxSendRate === undefined ? undefined : Number(options.maxSendRate),
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
