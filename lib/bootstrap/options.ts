// Options of the Postfix bootstrap and their validation. Every value that reaches the script is
// checked here against a strict pattern, so nothing a shell would interpret can get through.
import { isIPv4 } from 'node:net';
import { assertRegion, DEFAULT_SMTP_PORT, hasSmtpEndpoint, type SmtpTlsMode, smtpEndpoint, tlsModeOf } from '../smtp';

/** The most relays that can share one account's send rate (each keeps to rate / relays). */
export const MAX_RELAYS = 1000;

/** What the boot script needs to know. */
export interface BootstrapOptions {
  /** The SES region whose SMTP endpoint relays the mail, e.g. `eu-west-1`. */
  readonly region: string;
  /** Name or ARN of the Secrets Manager secret holding `{"username", "password"}`. */
  readonly secretId: string;
  /**
   * The region of the secret.
   * @default - the SES region
   */
  readonly secretRegion?: string;
  /**
   * SES SMTP port: 25, 587, 2587 (STARTTLS) or 465, 2465 (TLS wrapper).
   * @default 587
   */
  readonly port?: number;
  /**
   * Host name to connect to instead of the regional endpoint, e.g. an SES VPC endpoint's DNS name.
   * @default - `email-smtp.REGION.amazonaws.com` (or the FIPS host with `fips`)
   */
  readonly endpoint?: string;
  /**
   * Use SES's FIPS SMTP endpoint of the region.
   * @default false
   */
  readonly fips?: boolean;
  /**
   * IPv4 networks (CIDR) allowed to relay through this host. Empty: a null client that listens on
   * loopback only. Non-empty: a relay hub listening on all interfaces for loopback and these only.
   * @default - null client
   */
  readonly relayNetworks?: string[];
  /**
   * IPv4 networks (CIDR) of the other relays of this relay's group: on port 2525, and for them
   * only, it takes the queue of a relay that leaves (relaying through SES for them); port 25 still
   * relays for `relayNetworks` only.
   * @default - no hand-over port
   */
  readonly peerNetworks?: string[];
  /**
   * SES configuration set named in `X-SES-CONFIGURATION-SET` on every message that has none.
   * @default - no header added
   */
  readonly configurationSet?: string;
  /**
   * Recipients per second the relay keeps to (the account's SES maximum send rate, which SES counts
   * in recipients), at least 1. Every delivery waits for its turn (the pacer, Postfix 3.0+), over
   * a few reused TLS connections.
   * @default - read at boot with `aws sesv2 get-account` (the instance role needs
   * `ses:GetAccount`); 1 per second when it cannot be read
   */
  readonly maxSendRate?: number;
  /**
   * How many relays send at once with the account's send rate (`maxSendRate` or the quota read
   * at boot): each keeps to its share, rate / relays.
   * @default 1
   */
  readonly relays?: number;
  /**
   * The name of the Auto Scaling group's termination lifecycle hook. With it the relay, when its
   * group terminates it, stops accepting mail, delivers its queue (to SES, or to a peer relay of
   * the group when SES does not take it in time) and only then completes the lifecycle action; and
   * a relay that cannot deliver (AUTH refused, TLS failure, no credentials) takes itself out of
   * service and asks the group to replace it. (A self-contained script then carries the group's
   * jobs too and exceeds EC2's 16 KB: SesRelay ships the program from S3 instead.)
   * @default - not in a group with a hook: no drain, no self-replacement
   */
  readonly lifecycleHook?: string;
  /**
   * The CloudFormation stack and logical id of the resource (an Auto Scaling group with a
   * creation or update policy) that waits for each new relay's signal, given as
   * `STACK_NAME/LOGICAL_ID`: the relay signals success once Postfix is configured and an SMTP
   * AUTH against SES succeeded, failure otherwise.
   * @default - no signal
   */
  readonly signalResource?: string;
}

/** Options after validation, with every default filled in. */
export interface ResolvedBootstrapOptions {
  readonly region: string;
  readonly secretId: string;
  readonly secretRegion: string;
  readonly port: number;
  readonly tlsMode: SmtpTlsMode;
  readonly endpoint: string;
  readonly relayNetworks: string[];
  readonly peerNetworks: string[];
  readonly configurationSet: string;
  /** 0: read the account's quota at boot. */
  readonly maxSendRate: number;
  /** How many relays share that rate. */
  readonly relays: number;
  /** '' when none. */
  readonly lifecycleHook: string;
  /** 'STACK_NAME/LOGICAL_ID', or '' when none. */
  readonly signalResource: string;
  /** Non-fatal findings (e.g. a region where SES SMTP is not known to us). */
  readonly warnings: string[];
}

const SECRET_ID = /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$/;
const HOST_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const CONFIGURATION_SET = /^[A-Za-z0-9_-]{1,64}$/;
const LIFECYCLE_HOOK = /^[A-Za-z0-9_./-]{1,255}$/;
const SIGNAL_RESOURCE = /^[A-Za-z][A-Za-z0-9-]{0,127}\/[A-Za-z0-9]{1,255}$/;

/** Validates a host name (RFC 1123 labels, at least two, at most 253 characters). */
export function assertHostName(host: string, what = 'endpoint'): void {
  const labels = host.toLowerCase().split('.');
  if (host.length > 253 || labels.length < 2 || !labels.every((l) => HOST_LABEL.test(l))) {
    throw new Error(
      `invalid ${what} ${JSON.stringify(host)}: expected a DNS host name such as email-smtp.eu-west-1.amazonaws.com (letters, digits, dashes, dots)`,
    );
  }
}

/**
 * Validates an IPv4 CIDR and returns it in canonical form. Refuses networks that would make an
 * open relay (a prefix shorter than /8) and host bits set past the prefix.
 */
/** A count of relays sharing the account's send rate, returned as it is; throws if out of range. */
export function assertRelayCount(relays: number): number {
  if (!(Number.isInteger(relays) && relays >= 1 && relays <= MAX_RELAYS)) {
    throw new Error(
      `invalid relay count ${String(relays)}: how many relays share the account's send rate, a whole number from 1 to ${MAX_RELAYS}`,
    );
  }
  return relays;
}

export function parseRelayNetwork(cidr: string): string {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(cidr.trim());
  const allowed = 'expected an IPv4 network such as 10.0.0.0/16 (IPv6 is not supported yet)';
  if (!m || !isIPv4(m[1]) || Number(m[2]) > 32) {
    throw new Error(`invalid relay network ${JSON.stringify(cidr)}: ${allowed}`);
  }
  const prefix = Number(m[2]);
  if (prefix < 8) {
    throw new Error(
      `refusing relay network ${JSON.stringify(cidr)}: a prefix shorter than /8 would make an open relay; list the VPC or subnet CIDRs (/8 to /32)`,
    );
  }
  const octets = m[1].split('.').map(Number);
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  if (address % size !== 0) {
    const base = address - (address % size);
    const canonical = [24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join('.');
    throw new Error(
      `invalid relay network ${JSON.stringify(cidr)}: host bits are set past /${prefix}; did you mean ${canonical}/${prefix}?`,
    );
  }
  return `${octets.join('.')}/${prefix}`;
}

/** Validates the options and fills in defaults; throws an Error naming the bad value otherwise. */
export function resolveBootstrapOptions(options: BootstrapOptions): ResolvedBootstrapOptions {
  const warnings: string[] = [];
  assertRegion(options.region);
  const secretRegion = options.secretRegion ?? options.region;
  assertRegion(secretRegion);
  if (!SECRET_ID.test(options.secretId ?? '')) {
    throw new Error(
      `invalid secret id ${JSON.stringify(options.secretId)}: expected a Secrets Manager secret name or ARN (letters, digits and / _ + = . @ -)`,
    );
  }
  const port = options.port ?? DEFAULT_SMTP_PORT;
  const tlsMode = tlsModeOf(port);
  let endpoint: string;
  if (options.endpoint !== undefined) {
    assertHostName(options.endpoint);
    endpoint = options.endpoint.toLowerCase();
  } else {
    endpoint = smtpEndpoint(options.region, { fips: options.fips });
    if (!hasSmtpEndpoint(options.region)) {
      warnings.push(`SES is not known to offer SMTP in ${options.region}; ${endpoint} may not exist`);
    }
  }
  const relayNetworks = [...new Set((options.relayNetworks ?? []).map(parseRelayNetwork))];
  const peerNetworks = [...new Set((options.peerNetworks ?? []).map(parseRelayNetwork))];
  const configurationSet = options.configurationSet ?? '';
  if (configurationSet !== '' && !CONFIGURATION_SET.test(configurationSet)) {
    throw new Error(
      `invalid configuration set ${JSON.stringify(configurationSet)}: SES names are 1 to 64 letters, digits, underscores or dashes`,
    );
  }
  const maxSendRate = options.maxSendRate ?? 0;
  if (
    options.maxSendRate !== undefined &&
    !(Number.isFinite(maxSendRate) && maxSendRate >= 1 && maxSendRate <= 100000)
  ) {
    throw new Error(
      `invalid max send rate ${String(options.maxSendRate)}: messages per second, a number from 1 to 100000 (the account's SES maximum send rate; SES never allows less than 1)`,
    );
  }
  const relays = assertRelayCount(options.relays ?? 1);
  const lifecycleHook = options.lifecycleHook ?? '';
  if (lifecycleHook !== '' && !LIFECYCLE_HOOK.test(lifecycleHook)) {
    throw new Error(
      `invalid lifecycle hook ${JSON.stringify(lifecycleHook)}: a hook name of 1 to 255 letters, digits and - _ / .`,
    );
  }
  const signalResource = options.signalResource ?? '';
  if (signalResource !== '' && !SIGNAL_RESOURCE.test(signalResource)) {
    throw new Error(
      `invalid signal resource ${JSON.stringify(signalResource)}: STACK_NAME/LOGICAL_ID, a stack name (letters, digits, dashes) and a logical id (letters, digits)`,
    );
  }
  return {
    region: options.region,
    secretId: options.secretId,
    secretRegion,
    port,
    tlsMode,
    endpoint,
    relayNetworks,
    peerNetworks,
    configurationSet,
    maxSendRate,
    relays,
    lifecycleHook,
    signalResource,
    warnings,
  };
}
