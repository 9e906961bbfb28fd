// Resolution of the bootstrap's options: each value checked once, where it enters (the CLI's
// `render`, Bootstrap.render, or a SesRelay's props), with every default filled in. The renderers
// take only resolved options. Every value that reaches the script is checked against a strict
// pattern here, so nothing a shell would interpret can get through.
import {
  checkConfigurationSetName,
  checkHostName,
  checkMaxSendRate,
  checkRelayCount,
  checkRelayNetworks,
} from '../private/checks';
import {
  checkRegion,
  DEFAULT_SMTP_PORT,
  hasSmtpEndpoint,
  type SmtpTlsMode,
  smtpEndpoint,
  tlsModeOf,
} from '../smtp/endpoints';
import type { BootstrapOptions } from './options';

/** Where the relay sends and which secret it reads: what SesSmtpCredentials checks and holds. */
export interface SmtpSettings {
  readonly smtpRegion: string;
  readonly smtpEndpoint: string;
  readonly smtpPort: number;
  readonly tlsMode: SmtpTlsMode;
  readonly secretId: string;
  readonly secretRegion: string;
}

/** How the relay behaves: what SesRelay's props (or the CLI's options) say. */
export interface RelaySettings {
  readonly relayNetworks: string[];
  readonly peerNetworks: string[];
  /** '' when none. */
  readonly configurationSetName: string;
  /** 0: read the account's quota at boot. */
  readonly maxSendRate: number;
  readonly relayCount: number;
  /** '' when none. */
  readonly lifecycleHook: string;
  /** 'STACK_NAME/LOGICAL_ID', or '' when none. */
  readonly signalResource: string;
}

/** Options after resolution, with every default filled in. */
export interface ResolvedBootstrapOptions extends SmtpSettings, RelaySettings {}

/** The relay side of the options (a SesRelay's props use the same names). */
export type RelayOptions = Pick<
  BootstrapOptions,
  | 'relayNetworks'
  | 'peerNetworks'
  | 'configurationSetName'
  | 'maxSendRate'
  | 'relayCount'
  | 'lifecycleHook'
  | 'signalResource'
>;

const SECRET_ID = /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$/;
const LIFECYCLE_HOOK = /^[A-Za-z0-9_./-]{1,255}$/;
const SIGNAL_RESOURCE = /^[A-Za-z][A-Za-z0-9-]{0,127}\/[A-Za-z0-9]{1,255}$/;

/** How the caller names an option in its errors: as it is, as a CLI flag, as a construct's prop. */
export type OptionLabel = (option: keyof BootstrapOptions) => string;
const asIs: OptionLabel = (o) => o;

/** Runs checks whose messages start with the option's name, as `label` gives it. */
function checker(label: OptionLabel) {
  return <T, R>(name: keyof BootstrapOptions, value: T, check: (v: T) => R): R => {
    try {
      return check(value);
    } catch (err) {
      throw new Error(`${label(name)}: ${(err as Error).message}`);
    }
  };
}

/** The relay side, checked; errors start with the option's name (as SesRelay's prop is named). */
export function resolveRelaySettings(o: RelayOptions, label: OptionLabel = asIs): RelaySettings {
  const option = checker(label);
  const lifecycleHook = o.lifecycleHook ?? '';
  option('lifecycleHook', lifecycleHook, (h) => {
    if (h !== '' && !LIFECYCLE_HOOK.test(h)) {
      throw new Error(`invalid hook name ${JSON.stringify(h)}: 1 to 255 letters, digits and - _ / .`);
    }
  });
  const signalResource = o.signalResource ?? '';
  option('signalResource', signalResource, (r) => {
    if (r !== '' && !SIGNAL_RESOURCE.test(r)) {
      throw new Error(
        `invalid resource ${JSON.stringify(r)}: STACK_NAME/LOGICAL_ID, a stack name (letters, digits, dashes) and a logical id (letters, digits)`,
      );
    }
  });
  const configurationSetName = o.configurationSetName ?? '';
  return {
    relayNetworks: option('relayNetworks', o.relayNetworks ?? [], checkRelayNetworks),
    peerNetworks: option('peerNetworks', o.peerNetworks ?? [], checkRelayNetworks),
    configurationSetName:
      configurationSetName === ''
        ? ''
        : option('configurationSetName', configurationSetName, checkConfigurationSetName),
    maxSendRate: o.maxSendRate === undefined ? 0 : option('maxSendRate', o.maxSendRate, checkMaxSendRate),
    relayCount: option('relayCount', o.relayCount ?? 1, checkRelayCount),
    lifecycleHook,
    signalResource,
  };
}

/**
 * Checks the options and fills in defaults; throws an Error naming the option, the value and what
 * is allowed otherwise. `warnings`: findings that should not stop anyone (a region where SES SMTP
 * is not known to us).
 */
export function resolveBootstrapOptions(
  o: BootstrapOptions,
  warnings: string[] = [],
  label: OptionLabel = asIs,
): ResolvedBootstrapOptions {
  const option = checker(label);
  const smtpRegion = option('smtpRegion', o.smtpRegion, checkRegion);
  const secretRegion = option('secretRegion', o.secretRegion ?? smtpRegion, checkRegion);
  option('secretId', o.secretId ?? '', (id) => {
    if (!SECRET_ID.test(id)) {
      throw new Error(
        `invalid secret id ${JSON.stringify(id)}: expected a Secrets Manager secret name or ARN (letters, digits and / _ + = . @ -)`,
      );
    }
  });
  const smtpPort = o.smtpPort ?? DEFAULT_SMTP_PORT;
  const tlsMode = option('smtpPort', smtpPort, tlsModeOf);
  let endpoint: string;
  if (o.smtpEndpoint !== undefined) {
    endpoint = option('smtpEndpoint', o.smtpEndpoint, (h) => checkHostName(h, 'endpoint'));
  } else {
    endpoint = option('fips', smtpRegion, (r) => smtpEndpoint(r, o.fips === true));
    if (!hasSmtpEndpoint(smtpRegion)) {
      warnings.push(`SES is not known to offer SMTP in ${smtpRegion}; ${endpoint} may not exist`);
    }
  }
  return {
    smtpRegion,
    smtpEndpoint: endpoint,
    smtpPort,
    tlsMode,
    secretId: o.secretId,
    secretRegion,
    ...resolveRelaySettings(o, label),
  };
}
