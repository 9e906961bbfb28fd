import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runCaptured } from '../helpers/cli';
import { installerOf } from '../helpers/rendered';

const run = runCaptured;

describe('ses-relay smtp-password', () => {
  test.each([
    ['eu-central-1', 'some+secret+key\n', 'BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2'],
    ['us-west-1', 'another+secret+key', 'BKVmjjMDFk/qqw8EROW99bjCS65PF8WKvK5bSr4Y6EqF'],
  ])('derives the published vector for %s from stdin', async (region, stdin, expected) => {
    expect(await run(['smtp-password', '--smtp-region', region], stdin)).toEqual({
      code: 0,
      stdout: `${expected}\n`,
      stderr: '',
    });
  });

  test.each([
    [
      ['--smtp-region', 'us west 2'],
      'ses-relay: --smtp-region: invalid region "us west 2": expected an AWS region name such as eu-west-1',
    ],
    [['--smtp-region', ''], 'ses-relay: --smtp-region: a region is required, e.g. eu-west-1'],
    [[], 'ses-relay: --smtp-region: a region is required, e.g. eu-west-1'],
  ])('refuses region %j with a clear message and exit 2', async (args, message) => {
    const r = await run(['smtp-password', ...args], 'some+secret+key');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toContain('some+secret+key');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  test('refuses an empty stdin and a terminal', async () => {
    expect(await run(['smtp-password', '--smtp-region', 'eu-west-1'], '')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('no secret access key on standard input'),
    });
    expect(await run(['smtp-password', '--smtp-region', 'eu-west-1'], 'k', true)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('refusing to read the secret access key from a terminal'),
    });
  });

  test('has no option that takes the key on the command line', async () => {
    const r = await run(['smtp-password', '--smtp-region', 'eu-west-1', '--key', 'some+secret+key']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--key'");
  });
});

describe('ses-relay render', () => {
  test('prints the shell script', async () => {
    const r = await run([
      'render',
      '--smtp-region',
      'eu-west-1',
      '--secret-id',
      'ses-relay/smtp',
      '--relay-networks',
      '10.0.0.0/16, 10.1.0.0/16',
      '--smtp-port',
      '2587',
      '--configuration-set-name',
      'cs',
      '--max-send-rate',
      '28',
      '--relay-count',
      '2',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^#!\/bin\/bash\n/);
    const installer = installerOf(r.stdout);
    expect(installer).toContain("RELAY_NETWORKS='10.0.0.0/16 10.1.0.0/16'");
    expect(installer).toContain("SES_PORT='2587'");
    expect(installer).toContain("CONFIGURATION_SET_NAME='cs'");
    expect(installer).toContain("MAX_SEND_RATE='28'\nRELAY_COUNT='2'\n");
  });

  test('prints cloud-config with --format cloud-config', async () => {
    const r = await run([
      'render',
      '--smtp-region',
      'eu-west-1',
      '--secret-id',
      's',
      '--format',
      'cloud-config',
      '--smtp-endpoint',
      'vpce-1.email-smtp.eu-west-1.vpce.amazonaws.com',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^#cloud-config\n/);
    expect(parse(r.stdout).write_files[0].encoding).toBe('gz+b64');
    expect(installerOf(r.stdout)).toContain("SES_HOST='vpce-1.email-smtp.eu-west-1.vpce.amazonaws.com'");
  });

  test('warns on stderr for a region SES SMTP is not known in, and still renders', async () => {
    const r = await run(['render', '--smtp-region', 'xx-nowhere-1', '--secret-id', 's']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      'warning: SES is not known to offer SMTP in xx-nowhere-1; email-smtp.xx-nowhere-1.amazonaws.com may not exist\n',
    );
  });

  test("warns on stderr when the output is more than EC2's 16 KB of user data, and still renders it", async () => {
    const networks = Array.from({ length: 1000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`).join(',');
    const r = await run(['render', '--smtp-region', 'eu-west-1', '--secret-id', 's', '--relay-networks', networks]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      `warning: the output is ${Buffer.byteLength(r.stdout)} bytes, more than EC2's 16384 bytes of user data: run it on the host another way (copy it and run it with bash as root), or use the SesRelay construct, which ships the program from S3\n`,
    );
    const small = await run([
      'render',
      '--smtp-region',
      'eu-west-1',
      '--secret-id',
      's',
      '--relay-networks',
      '10.0.0.0/16',
    ]);
    expect([small.code, small.stderr]).toEqual([0, '']);
  });

  test('renders any send rate from 1 up without a warning (the pacer keeps to it exactly)', async () => {
    for (const rate of ['1', '5', '14', '15', '1.5']) {
      const r = await run(['render', '--smtp-region', 'eu-west-1', '--secret-id', 's', '--max-send-rate', rate]);
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect(installerOf(r.stdout)).toContain(`MAX_SEND_RATE='${rate}'\n`);
    }
  });

  test.each([
    [
      ['--relay-networks', '10.0.0.0/33'],
      'ses-relay: --relay-networks: invalid network "10.0.0.0/33": expected an IPv4 network',
    ],
    [['--smtp-port', '2525'], 'ses-relay: --smtp-port: invalid port 2525: SES SMTP listens on'],
    [['--smtp-port', '587;reboot'], 'ses-relay: --smtp-port: "587;reboot" is not a whole number'],
    [
      ['--configuration-set-name', 'a$(id)'],
      'ses-relay: --configuration-set-name: invalid configuration set name "a$(id)"',
    ],
    [['--format', 'yaml'], 'ses-relay: --format: invalid format "yaml": allowed: shell, cloud-config'],
    [['--max-send-rate', 'fast'], 'ses-relay: --max-send-rate: "fast" is not a number, e.g. 14 or 2.5'],
    [
      ['--max-send-rate', '0'],
      'ses-relay: --max-send-rate: invalid max send rate 0: recipients per second, a number from 1 to 100000',
    ],
    [['--smtp-endpoint', 'a b'], 'ses-relay: --smtp-endpoint: invalid endpoint "a b"'],
    [['--relay-count', 'two'], 'ses-relay: --relay-count: "two" is not a whole number'],
    [
      ['--relay-count', '0'],
      "invalid relay count 0: how many relays share the account's send rate, a whole number from 1 to 1000",
    ],
  ])('refuses %j at render time and prints no script', async (extra, message) => {
    const r = await run(['render', '--smtp-region', 'eu-west-1', '--secret-id', 's', ...extra]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
  });

  test('requires --secret-id and --smtp-region', async () => {
    expect((await run(['render', '--smtp-region', 'eu-west-1'])).stderr).toContain('--secret-id is required');
    expect((await run(['render', '--secret-id', 's'])).stderr).toContain(
      'ses-relay: --smtp-region: a region is required',
    );
  });
});

test('npx ses-relay works from the repository root, reading the key from stdin', () => {
  const r = spawnSync('npx', ['--no-install', 'ses-relay', 'smtp-password', '--smtp-region', 'eu-central-1'], {
    cwd: join(__dirname, '..', '..'),
    input: 'some+secret+key\n',
    encoding: 'utf8',
  });
  expect(r.stdout).toBe('BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2\n');
  expect(r.status).toBe(0);
});
