// What the end-to-end test files share: whether the world can be built here, the credentials the
// stand-in accepts (AWS's documented example key pair, valid nowhere, and a made-up rotated key), the
// secret the fake `aws` returns, and the script's options.
import type { BootstrapOptions } from '../../lib/bootstrap/options';
import { SmtpPassword } from '../../lib/smtp/smtp-password';
import { type WorldCredentials, worldAvailable } from '../harness/world';

const unavailable = worldAvailable();
if (unavailable && process.env.CI) throw new Error(`end-to-end suite cannot run in CI: ${unavailable}`);
if (unavailable) console.warn(`skipping the end-to-end suite: ${unavailable}`);
/** `describe`, or `describe.skip` where the world cannot be built (never in CI). */
export const describeWorld = unavailable ? describe.skip : describe;

export const SECRET_ID = 'ses-relay/smtp';
export const CREDS = {
  username: 'AKIAIOSFODNN7EXAMPLE',
  password: SmtpPassword.derive('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'eu-west-1'),
};
/** The key a rotation made: made up, not shaped like an AWS key (the script takes any [A-Z0-9]{16,128}). */
export const ROTATED = {
  username: 'EXAMPLEROTATEDSMTP02',
  password: SmtpPassword.derive('example-rotated-secret-key', 'eu-west-1'),
};
/** The secret's value, as the construct stores it, holding CREDENTIALS. */
export const secretJson = (credentials: WorldCredentials) =>
  JSON.stringify({ ...credentials, region: 'eu-west-1', port: 587 });
export const SECRET_JSON = secretJson(CREDS);

/** The script's options: the region and secret of the world, and `extra`. */
export function options(extra: Partial<BootstrapOptions> = {}): BootstrapOptions {
  return { smtpRegion: 'eu-west-1', secretId: SECRET_ID, ...extra };
}
