// The bootstrap's options resolved where they enter (the CLI, Bootstrap.render, SesRelay): each
// refusal names the option, the value and what is allowed; defaults are filled in.
import { Bootstrap } from '../../lib/bootstrap/bootstrap';
import type { BootstrapOptions } from '../../lib/bootstrap/options';
import { resolveBootstrapOptions } from '../../lib/bootstrap/resolve';
import { installerOf } from '../helpers/rendered';

const BASE: BootstrapOptions = {
  smtpRegion: 'eu-west-1',
  secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ses-relay/smtp-AbCdEf',
};

describe('option resolution', () => {
  test.each<[string, Partial<BootstrapOptions>, RegExp]>([
    [
      'malformed region',
      { smtpRegion: 'us west 2' },
      /^smtpRegion: invalid region "us west 2": expected an AWS region name/,
    ],
    ['missing region', { smtpRegion: '' }, /^smtpRegion: a region is required/],
    [
      'shell metacharacters in the secret id',
      { secretId: 'x;reboot' },
      /^secretId: invalid secret id "x;reboot": expected a Secrets Manager secret name or ARN/,
    ],
    ['quote in the secret id', { secretId: "x'y" }, /invalid secret id/],
    ['port SES does not offer', { smtpPort: 2525 }, /^smtpPort: invalid port 2525: SES SMTP listens on/],
    [
      'endpoint with a command',
      { smtpEndpoint: 'host$(id).example.com' },
      /^smtpEndpoint: invalid endpoint "host\$\(id\)\.example\.com": expected a DNS name/,
    ],
    ['single-label endpoint', { smtpEndpoint: 'localhost' }, /^smtpEndpoint: invalid endpoint "localhost"/],
    [
      'bad CIDR',
      { relayNetworks: ['10.0.0.0/33'] },
      /^relayNetworks: invalid network "10\.0\.0\.0\/33": expected an IPv4 network/,
    ],
    ['not an address', { relayNetworks: ['10.0.0/16'] }, /^relayNetworks: invalid network "10\.0\.0\/16"/],
    ['IPv6', { relayNetworks: ['2001:db8::/32'] }, /IPv6 is not supported yet/],
    [
      'the whole Internet',
      { relayNetworks: ['0.0.0.0/0'] },
      /^relayNetworks: refusing network "0\.0\.0\.0\/0": a prefix shorter than \/8 would make an open relay/,
    ],
    [
      'host bits set',
      { relayNetworks: ['10.0.5.0/16'] },
      /host bits are set past \/16; did you mean 10\.0\.0\.0\/16\?/,
    ],
    [
      'configuration set with a space',
      { configurationSetName: 'my set' },
      /^configurationSetName: invalid configuration set name "my set": SES names are 1 to 64 letters/,
    ],
    [
      'FIPS where there is none',
      { smtpRegion: 'eu-west-1', fips: true },
      /^fips: SES has no FIPS SMTP endpoint in eu-west-1/,
    ],
    [
      'a zero send rate',
      { maxSendRate: 0 },
      /^maxSendRate: invalid max send rate 0: recipients per second, a number from 1 to 100000/,
    ],
    [
      'a send rate below SES minimum',
      { maxSendRate: 0.5 },
      /^maxSendRate: invalid max send rate 0.5: recipients per second, a number from 1/,
    ],
    [
      'a send rate that is not a number',
      { maxSendRate: Number.NaN },
      /^maxSendRate: invalid max send rate NaN: recipients per second/,
    ],
    [
      'a lifecycle hook name with a space',
      { lifecycleHook: 'drain me' },
      /^lifecycleHook: invalid hook name "drain me": 1 to 255 letters, digits and - _ \/ \./,
    ],
    [
      'a signal resource without a logical id',
      { signalResource: 'MyStack' },
      /^signalResource: invalid resource "MyStack": STACK_NAME\/LOGICAL_ID/,
    ],
    [
      'a signal resource with a command',
      { signalResource: 'MyStack/Asg;reboot' },
      /^signalResource: invalid resource "MyStack\/Asg;reboot"/,
    ],
    ...[0, 1.5, 1001].map((relayCount): [string, Partial<BootstrapOptions>, RegExp] => [
      `${relayCount} relays`,
      { relayCount },
      new RegExp(
        `^relayCount: invalid relay count ${relayCount}: how many relays share the account's send rate, a whole number from 1 to 1000`,
      ),
    ]),
  ])('refuses %s', (_what, change, message) => {
    expect(() => resolveBootstrapOptions({ ...BASE, ...change })).toThrow(message);
  });

  test('defaults: port 587 STARTTLS, regional endpoint, secret in the SES region, null client', () => {
    const warnings: string[] = [];
    expect(resolveBootstrapOptions(BASE, warnings)).toEqual({
      smtpRegion: 'eu-west-1',
      secretId: BASE.secretId,
      secretRegion: 'eu-west-1',
      smtpPort: 587,
      tlsMode: 'starttls',
      smtpEndpoint: 'email-smtp.eu-west-1.amazonaws.com',
      relayNetworks: [],
      peerNetworks: [],
      configurationSetName: '',
      maxSendRate: 0,
      relayCount: 1,
      lifecycleHook: '',
      signalResource: '',
    });
    expect(warnings).toEqual([]);
  });

  test('relay networks are de-duplicated; a region SES SMTP is not known in is a warning', () => {
    const warnings: string[] = [];
    const r = resolveBootstrapOptions(
      { ...BASE, smtpRegion: 'xx-nowhere-1', relayNetworks: ['10.0.0.0/8', ' 10.0.0.0/8'] },
      warnings,
    );
    expect(r.relayNetworks).toEqual(['10.0.0.0/8']);
    expect(warnings).toEqual([
      'SES is not known to offer SMTP in xx-nowhere-1; email-smtp.xx-nowhere-1.amazonaws.com may not exist',
    ]);
  });
});

describe('Bootstrap.render, the public generator', () => {
  test('renders what the options say, and refuses what resolution refuses', () => {
    expect(installerOf(Bootstrap.render({ ...BASE, relayNetworks: ['10.1.0.0/16'] }))).toMatch(
      /^RELAY_NETWORKS='10\.1\.0\.0\/16'$/m,
    );
    expect(() => Bootstrap.render({ ...BASE, relayCount: 0 })).toThrow(/^relayCount: invalid relay count 0/);
  });
});
