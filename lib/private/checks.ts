// The checks of values that enter the package (props, context keys, CLI options), shared by the
// constructs and the generator: each returns the value in canonical form or throws a message that
// names the value and what is allowed. The caller adds where it came from (the prop or option and
// the construct path). Pure: no CDK, no AWS calls.
import { isIPv4 } from 'node:net';

/** The most relays that can share one account's send rate (each keeps to rate / relayCount). */
export const MAX_RELAY_COUNT = 1000;
/** SES's maximum send rates lie between 1 and this many recipients per second. */
export const MAX_SEND_RATE = 100000;

const HOST_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const EMAIL = /^[^\s@'"`$\\]+@[^\s@'"`$\\]+\.[^\s@'"`$\\]+$/;
const CONFIGURATION_SET_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A host name (RFC 1123 labels, at least two, at most 253 characters), lower-cased. */
export function checkHostName(host: string, what = 'host name'): string {
  const labels = host.toLowerCase().split('.');
  if (host.length > 253 || labels.length < 2 || !labels.every((l) => HOST_LABEL.test(l))) {
    throw new Error(
      `invalid ${what} ${JSON.stringify(host)}: expected a DNS name such as email-smtp.eu-west-1.amazonaws.com (letters, digits, dashes, dots)`,
    );
  }
  return host.toLowerCase();
}

/** An email address (local@domain, no white space or shell metacharacters). */
export function checkEmailAddress(address: string): string {
  if (!EMAIL.test(address)) {
    throw new Error(`invalid email address ${JSON.stringify(address)}: expected local@domain, e.g. sender@example.com`);
  }
  return address;
}

/**
 * An IPv4 network (CIDR) in canonical form. Refuses networks that would make an open relay (a
 * prefix shorter than /8) and host bits set past the prefix.
 */
export function checkRelayNetwork(cidr: string): string {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(cidr.trim());
  if (!m || !isIPv4(m[1]) || Number(m[2]) > 32) {
    throw new Error(
      `invalid network ${JSON.stringify(cidr)}: expected an IPv4 network such as 10.0.0.0/16 (IPv6 is not supported yet)`,
    );
  }
  const prefix = Number(m[2]);
  if (prefix < 8) {
    throw new Error(
      `refusing network ${JSON.stringify(cidr)}: a prefix shorter than /8 would make an open relay; list the VPC or subnet CIDRs (/8 to /32)`,
    );
  }
  const octets = m[1].split('.').map(Number);
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  if (address % size !== 0) {
    const base = address - (address % size);
    const canonical = [24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join('.');
    throw new Error(
      `invalid network ${JSON.stringify(cidr)}: host bits are set past /${prefix}; did you mean ${canonical}/${prefix}?`,
    );
  }
  return `${octets.join('.')}/${prefix}`;
}

/** A list of networks, each checked, in canonical form, without duplicates. */
export function checkRelayNetworks(cidrs: readonly string[]): string[] {
  return [...new Set(cidrs.map(checkRelayNetwork))];
}

/** How many relays share the account's send rate: a whole number from 1 to MAX_RELAY_COUNT. */
export function checkRelayCount(relayCount: number): number {
  if (!(Number.isInteger(relayCount) && relayCount >= 1 && relayCount <= MAX_RELAY_COUNT)) {
    throw new Error(
      `invalid relay count ${String(relayCount)}: how many relays share the account's send rate, a whole number from 1 to ${MAX_RELAY_COUNT}`,
    );
  }
  return relayCount;
}

/** The account's maximum send rate, in recipients per second as SES counts them. */
export function checkMaxSendRate(rate: number): number {
  if (!(Number.isFinite(rate) && rate >= 1 && rate <= MAX_SEND_RATE)) {
    throw new Error(
      `invalid max send rate ${String(rate)}: recipients per second, a number from 1 to ${MAX_SEND_RATE} (the account's SES maximum send rate; SES never allows less than 1)`,
    );
  }
  return rate;
}

/** An SES configuration set name. */
export function checkConfigurationSetName(name: string): string {
  if (!CONFIGURATION_SET_NAME.test(name)) {
    throw new Error(
      `invalid configuration set name ${JSON.stringify(name)}: SES names are 1 to 64 letters, digits, underscores or dashes`,
    );
  }
  return name;
}
