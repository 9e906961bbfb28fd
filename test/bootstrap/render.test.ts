import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'yaml';
import {
  BootstrapFormat,
  type BootstrapOptions,
  INSTALLED_SCRIPT_PATH,
  renderBootstrap,
  renderScript,
  resolveBootstrapOptions,
  USER_DATA_LIMIT,
} from '../../lib/bootstrap';

const BASE: BootstrapOptions = {
  region: 'eu-west-1',
  secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ses-relay/smtp-AbCdEf',
};

// Every mode the generator has: null client / relay hub, STARTTLS / wrapper, endpoint overrides,
// configuration set, FIPS, cross-region secret.
const VARIANTS: [string, BootstrapOptions][] = [
  ['null client', BASE],
  ['relay hub', { ...BASE, relayNetworks: ['10.0.0.0/16', '192.168.1.0/24'] }],
  ['TLS wrapper 465', { ...BASE, port: 465 }],
  ['port 2587 with configuration set', { ...BASE, port: 2587, configurationSet: 'relay-set_1' }],
  ['VPC endpoint', { ...BASE, endpoint: 'vpce-0abc-def.email-smtp.eu-west-1.vpce.amazonaws.com' }],
  ['FIPS', { ...BASE, region: 'us-east-1', fips: true, secretRegion: 'eu-west-1' }],
  ['fixed send rate', { ...BASE, maxSendRate: 200 }],
  ['rate shared by three relays', { ...BASE, relays: 3 }],
];

function tool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}
const requireTool = (name: string) => {
  if (!tool(name) && process.env.CI) throw new Error(`${name} is required in CI (.ci/run installs it)`);
  return tool(name) ? test : test.skip;
};

describe('rendered script', () => {
  test('starts with the validated settings, single-quoted', () => {
    const script = renderScript({ ...BASE, relayNetworks: ['10.0.0.0/16'], configurationSet: 'cs' });
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script).toContain("SES_REGION='eu-west-1'\nSES_HOST='email-smtp.eu-west-1.amazonaws.com'\n");
    expect(script).toContain("SES_PORT='587'\nSES_TLS='starttls'\n");
    expect(script).toContain(`SECRET_ID='${BASE.secretId}'\nSECRET_REGION='eu-west-1'\n`);
    expect(script).toContain("RELAY_NETWORKS='10.0.0.0/16'\nCONFIGURATION_SET='cs'\nMAX_SEND_RATE='0'\nRELAYS='1'\n");
    expect(renderScript({ ...BASE, maxSendRate: 14, relays: 3 })).toContain("MAX_SEND_RATE='14'\nRELAYS='3'\n");
  });

  function expectContainsAll(script: string, needles: string[]): void {
    for (const needle of needles) expect(script).toContain(needle);
  }

  test('keeps the procedure steps and our hardening', () => {
    const script = renderScript(BASE);
    expectContainsAll(script, [
      'want relayhost "[$SES_HOST]:$SES_PORT"',
      'want smtp_tls_security_level secure',
      'want smtp_sasl_security_options "noanonymous, noplaintext"',
      'smtp_fallback_relay=)/#\\1/',
      'postmap "$DB_TYPE:$PF/sasl_passwd"',
      'umask 077',
      '--query SecretString --output text',
    ]);
    expect(script).not.toMatch(/smtp_tls_security_level encrypt|set -x/);
  });

  test('paces to the send quota: rate from SES, the pacer on every delivery, tlsproxy reuse, short backoff', () => {
    expectContainsAll(renderScript(BASE), [
      'aws sesv2 get-account --region "$SES_REGION" --query SendQuota.MaxSendRate --output text',
      'if has_param smtp_delivery_status_filter; then',
      'put_service ses-pace unix "ses-pace  unix  -       n       n       -       -       spawn user=ses-relay argv=$py -I -S $PACER $rate $PACER_DIR/schedule"',
      'want smtp_delivery_status_filter "socketmap:unix:private/ses-pace:pace"',
      'read -r conns delay RATE_NOTE <<<"$(pace_for "$rate" "$paced")"',
      'want default_destination_concurrency_limit "$conns"',
      'want smtp_destination_rate_delay "$delay"',
      'want smtp_connection_cache_destinations "$SES_HOST"',
      'want smtp_tls_connection_reuse yes',
      "sed -i -E 's/^#(tlsproxy[[:space:]])/\\1/'",
      'want minimal_backoff_time 10s',
    ]);
  });

  test('carries the pacer without comments, blank lines or docstring, and it still works as the pacer', () => {
    const carried = renderScript(BASE).match(/^PACER_PY='([^']*)'$/m)?.[1] ?? '';
    expect(carried).toMatch(/^import fcntl$/m);
    expect(carried).not.toMatch(/^\s*#|"""|^\s*$/m);
    // The carried text, run by python3 as the relays run it: two lookups answered, one schedule.
    const dir = mkdtempSync(join(tmpdir(), 'ses-relay-carried-'));
    writeFileSync(join(dir, 'pacer.py'), carried);
    const lookup = 'pace 2.0.0 250 Ok';
    const r = spawnSync('python3', [join(dir, 'pacer.py'), '1000', join(dir, 'schedule')], {
      input: `${lookup.length}:${lookup},`.repeat(2),
      encoding: 'utf8',
    });
    expect([r.status, r.stdout, r.stderr]).toEqual([0, '9:NOTFOUND ,9:NOTFOUND ,', '']);
    expect(Number(readFileSync(join(dir, 'schedule'), 'utf8'))).toBeGreaterThan(Date.now() / 1000 - 60);
  });

  /** Runs one function of the rendered script on its own in bash, after `prelude`, with `args`. */
  function runFunction(name: string, prelude: string, args: string[]) {
    const fn = renderScript(BASE).match(new RegExp(`^${name}\\(\\) \\{\\n[\\s\\S]*?\\n\\}$`, 'm'))?.[0];
    if (fn === undefined) throw new Error(`the rendered script has no function ${name}`);
    return spawnSync('bash', ['-c', `${prelude}\n${fn}\n${name} "$@"`, name, ...args], { encoding: 'utf8' });
  }

  // read_quota with an `aws` function answering GetAccount with its first argument.
  test.each([
    ['14.0', '14.0', ''],
    ['200', '200', ''],
    ['None', '1', 'cannot read'],
    ['', '1', 'cannot read'],
    ['0.0', '1', 'cannot read'],
    ['1e3', '1', 'cannot read'],
    ['.5', '1', 'cannot read'],
  ])('read_quota: SES answering %j keeps to %s', (answer, rate, logged) => {
    const prelude = 'SES_REGION=eu-west-1\nlog() { echo "$*" >&2; }\naws() { printf "%s" "$ANSWER"; }\nANSWER=$1';
    const r = runFunction('read_quota', prelude, [answer]);
    expect(r.stdout).toBe(`${rate}\n`);
    expect(r.stderr).toBe(logged ? 'cannot read the SES send quota (ses:GetAccount); keeping to 1 message/s\n' : '');
  });

  // pace_for with the rendered PER_CONNECTION and MAX_CONNECTIONS; "1": the pacer is on (Postfix
  // 3.0+), "0": Postfix 2.x.
  test.each([
    ['1', '1', '1 0s at most 1 recipients/s, each delivery paced, over up to 1 connection(s)'],
    ['1.9', '1', '1 0s at most 1.9 recipients/s, each delivery paced, over up to 1 connection(s)'],
    ['5', '1', '1 0s at most 5 recipients/s, each delivery paced, over up to 1 connection(s)'],
    ['6', '1', '2 0s at most 6 recipients/s, each delivery paced, over up to 2 connection(s)'],
    ['50', '1', '10 0s at most 50 recipients/s, each delivery paced, over up to 10 connection(s)'],
    ['50.0', '1', '10 0s at most 50.0 recipients/s, each delivery paced, over up to 10 connection(s)'],
    ['100000', '1', '50 0s at most 100000 recipients/s, each delivery paced, over up to 50 connection(s)'],
    ['0.50', '1', '1 0s at most 0.50 recipients/s, each delivery paced, over up to 1 connection(s)'],
    ['1', '0', '1 1s at most 1 messages/s over one connection, a second apart'],
    ['1.9', '0', '1 1s at most 1.9 messages/s over one connection, a second apart'],
    ['2', '0', '1 0s one unpaced connection for a quota of 2 messages/s (Postfix before 3.0 cannot pace deliveries)'],
  ])('pace_for %s (paced: %s): connections, delay and log note', (rate, paced, expected) => {
    const limits = renderScript(BASE).match(/^PER_CONNECTION='5'\nMAX_CONNECTIONS='50'$/m)?.[0];
    expect(limits).toBe("PER_CONNECTION='5'\nMAX_CONNECTIONS='50'");
    const r = runFunction('pace_for', limits ?? '', [rate, paced]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${expected}\n`);
  });

  test('drops comment lines but keeps shellcheck directives', () => {
    const script = renderScript(BASE);
    expect(
      script
        .split('\n')
        .slice(2)
        .filter((l) => /^\s*#/.test(l) && !l.includes('shellcheck')),
    ).toEqual([]);
    expect(script).toContain('# shellcheck disable=SC1091');
  });

  test.each(VARIANTS)('%s stays under the EC2 user-data limit in both formats', (_name, opts) => {
    for (const format of [BootstrapFormat.SHELL, BootstrapFormat.CLOUD_CONFIG]) {
      expect(Buffer.byteLength(renderBootstrap(opts, format))).toBeLessThan(USER_DATA_LIMIT);
    }
  });

  requireTool('shellcheck').each(VARIANTS)('%s is shellcheck clean', (_name, opts) => {
    const r = spawnSync('shellcheck', ['-s', 'bash', '-'], { input: renderScript(opts), encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });

  test('cloud-config carries the same script, compressed, written 0700 and run once', () => {
    const doc = renderBootstrap(BASE, BootstrapFormat.CLOUD_CONFIG);
    expect(doc.startsWith('#cloud-config\n')).toBe(true);
    const parsed = parse(doc);
    expect(parsed.write_files).toEqual([
      {
        path: INSTALLED_SCRIPT_PATH,
        owner: 'root:root',
        permissions: '0700',
        encoding: 'gz+b64',
        content: expect.any(String),
      },
    ]);
    expect(gunzipSync(Buffer.from(parsed.write_files[0].content, 'base64')).toString('utf8')).toBe(renderScript(BASE));
    expect(parsed.runcmd).toEqual([[INSTALLED_SCRIPT_PATH]]);
  });

  requireTool('cloud-init').each(VARIANTS)('%s cloud-config passes cloud-init schema', (_name, opts) => {
    const dir = mkdtempSync(join(tmpdir(), 'ses-relay-cc-'));
    const file = join(dir, 'user-data');
    writeFileSync(file, renderBootstrap(opts, BootstrapFormat.CLOUD_CONFIG));
    const r = spawnSync('cloud-init', ['schema', '--config-file', file], { encoding: 'utf8' });
    expect(r.stdout).toContain('Valid cloud-config');
    expect(r.status).toBe(0);
  });
});

describe('option validation', () => {
  test.each<[string, Partial<BootstrapOptions>, RegExp]>([
    ['malformed region', { region: 'us west 2' }, /invalid region "us west 2": expected an AWS region name/],
    ['missing region', { region: '' }, /a region is required/],
    [
      'shell metacharacters in the secret id',
      { secretId: 'x;reboot' },
      /invalid secret id "x;reboot": expected a Secrets Manager secret name or ARN/,
    ],
    ['quote in the secret id', { secretId: "x'y" }, /invalid secret id/],
    ['port SES does not offer', { port: 2525 }, /invalid port 2525: SES SMTP listens on/],
    [
      'endpoint with a command',
      { endpoint: 'host$(id).example.com' },
      /invalid endpoint "host\$\(id\)\.example\.com": expected a DNS host name/,
    ],
    ['single-label endpoint', { endpoint: 'localhost' }, /invalid endpoint "localhost"/],
    [
      'bad CIDR',
      { relayNetworks: ['10.0.0.0/33'] },
      /invalid relay network "10\.0\.0\.0\/33": expected an IPv4 network/,
    ],
    ['not an address', { relayNetworks: ['10.0.0/16'] }, /invalid relay network "10\.0\.0\/16"/],
    ['IPv6', { relayNetworks: ['2001:db8::/32'] }, /IPv6 is not supported yet/],
    [
      'the whole Internet',
      { relayNetworks: ['0.0.0.0/0'] },
      /refusing relay network "0\.0\.0\.0\/0": a prefix shorter than \/8 would make an open relay/,
    ],
    [
      'host bits set',
      { relayNetworks: ['10.0.5.0/16'] },
      /host bits are set past \/16; did you mean 10\.0\.0\.0\/16\?/,
    ],
    [
      'configuration set with a space',
      { configurationSet: 'my set' },
      /invalid configuration set "my set": SES names are 1 to 64 letters/,
    ],
    ['FIPS where there is none', { region: 'eu-west-1', fips: true }, /SES has no FIPS SMTP endpoint in eu-west-1/],
    ['a zero send rate', { maxSendRate: 0 }, /invalid max send rate 0: messages per second, a number from 1 to 100000/],
    [
      'a send rate below SES minimum',
      { maxSendRate: 0.5 },
      /invalid max send rate 0.5: messages per second, a number from 1/,
    ],
    ['a send rate that is not a number', { maxSendRate: Number.NaN }, /invalid max send rate NaN: messages per second/],
    ...[0, 1.5, 1001].map((relays): [string, Partial<BootstrapOptions>, RegExp] => [
      `${relays} relays`,
      { relays },
      new RegExp(
        `invalid relay count ${relays}: how many relays share the account's send rate, a whole number from 1 to 1000`,
      ),
    ]),
  ])('refuses %s', (_what, change, message) => {
    expect(() => renderScript({ ...BASE, ...change })).toThrow(message);
  });

  test('defaults: port 587 STARTTLS, regional endpoint, secret in the SES region, null client', () => {
    expect(resolveBootstrapOptions(BASE)).toEqual({
      region: 'eu-west-1',
      secretId: BASE.secretId,
      secretRegion: 'eu-west-1',
      port: 587,
      tlsMode: 'starttls',
      endpoint: 'email-smtp.eu-west-1.amazonaws.com',
      relayNetworks: [],
      configurationSet: '',
      maxSendRate: 0,
      relays: 1,
      warnings: [],
    });
  });

  test('relay networks are de-duplicated; a region SES SMTP is not known in is a warning', () => {
    const r = resolveBootstrapOptions({
      ...BASE,
      region: 'xx-nowhere-1',
      relayNetworks: ['10.0.0.0/8', ' 10.0.0.0/8'],
    });
    expect(r.relayNetworks).toEqual(['10.0.0.0/8']);
    expect(r.warnings).toEqual([
      'SES is not known to offer SMTP in xx-nowhere-1; email-smtp.xx-nowhere-1.amazonaws.com may not exist',
    ]);
  });
});
