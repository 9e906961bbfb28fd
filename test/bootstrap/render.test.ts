import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Bootstrap } from '../../lib/bootstrap/bootstrap';
import { BootstrapFormat, type BootstrapOptions } from '../../lib/bootstrap/options';
import {
  CONFIGURATION_SET_FILE,
  codeOnly,
  GROUP_ONLY_FILES,
  INSTALLED_SCRIPT_PATH,
  PROGRAM_PATH,
  programArchive,
  programBundle,
  programSha256,
  SETTINGS_PATH,
} from '../../lib/bootstrap/program';
import {
  CLOUD_CONFIG_SCRIPT_PATH,
  renderS3Installer,
  renderSettings,
  USER_DATA_LIMIT,
} from '../../lib/bootstrap/render';
import { resolveBootstrapOptions } from '../../lib/bootstrap/resolve';
import { installerOf } from '../helpers/rendered';

// Bootstrap.render resolves the options, then renders (the shell script by default).
const renderScript = (o: BootstrapOptions) => Bootstrap.render(o);
const renderBootstrap = Bootstrap.render;

const BASE: BootstrapOptions = {
  smtpRegion: 'eu-west-1',
  secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ses-relay/smtp-AbCdEf',
};

// Every mode the generator has: null client / relay hub, STARTTLS / wrapper, endpoint overrides,
// configuration set, FIPS, cross-region secret.
const VARIANTS: [string, BootstrapOptions][] = [
  ['null client', BASE],
  ['relay hub', { ...BASE, relayNetworks: ['10.0.0.0/16', '192.168.1.0/24'] }],
  ['TLS wrapper 465', { ...BASE, smtpPort: 465 }],
  ['port 2587 with configuration set', { ...BASE, smtpPort: 2587, configurationSetName: 'relay-set_1' }],
  ['VPC endpoint', { ...BASE, smtpEndpoint: 'vpce-0abc-def.email-smtp.eu-west-1.vpce.amazonaws.com' }],
  ['FIPS', { ...BASE, smtpRegion: 'us-east-1', fips: true, secretRegion: 'eu-west-1' }],
  ['fixed send rate', { ...BASE, maxSendRate: 200 }],
  ['rate shared by three relays', { ...BASE, relayCount: 3 }],
];

function tool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}
const requireTool = (name: string) => {
  if (!tool(name) && process.env.CI) throw new Error(`${name} is required in CI (npm test's set-up installs it)`);
  if (!tool(name))
    console.warn(`skipping the tests that need ${name}: it is not installed (npm test's set-up installs it)`);
  return tool(name) ? test : test.skip;
};

const PROGRAM_DIR = join(__dirname, '..', '..', 'lib', 'bootstrap', 'instance');
const programFiles = () =>
  readdirSync(PROGRAM_DIR, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
/** Every file of the instance program, one after the other. */
const programText = () =>
  programFiles()
    .map((f) => readFileSync(join(PROGRAM_DIR, f), 'utf8'))
    .join('\n');

/** Extracts the program a rendered script carries into a new folder, as its installer does. */
function carriedProgram(script: string, group = false, configurationSet = false): string {
  const installer = installerOf(script);
  const start = `\ncd ${PROGRAM_PATH}.new\n`;
  const from = installer.indexOf(start) + start.length;
  const bundle = installer.slice(from, installer.indexOf('\ncd /\n', from));
  expect(installer).toContain(start);
  expect(bundle).toBe(programBundle(group, configurationSet).trimEnd());
  const dir = mkdtempSync(join(tmpdir(), 'ses-relay-carried-'));
  const r = spawnSync('bash', ['-e'], { cwd: dir, input: bundle, encoding: 'utf8' });
  expect([r.status, r.stderr]).toEqual([0, '']);
  return dir;
}

describe('rendered script', () => {
  test('writes the validated settings, single-quoted, to the settings file', () => {
    const script = installerOf(renderScript({ ...BASE, relayNetworks: ['10.0.0.0/16'], configurationSetName: 'cs' }));
    expect(script.startsWith('#!/bin/bash\nset -euo pipefail\n')).toBe(true);
    const settings = script.match(/<<'SES_RELAY_SETTINGS_EOF'\n([\s\S]*?)SES_RELAY_SETTINGS_EOF\n/)?.[1];
    expect(script).toContain(`cat >${SETTINGS_PATH} <<'SES_RELAY_SETTINGS_EOF'`);
    expect(settings).toBe(
      [
        "SES_REGION='eu-west-1'",
        "SES_HOST='email-smtp.eu-west-1.amazonaws.com'",
        "SES_PORT='587'",
        "SES_TLS='starttls'",
        `SECRET_ID='${BASE.secretId}'`,
        "SECRET_REGION='eu-west-1'",
        "RELAY_NETWORKS='10.0.0.0/16'",
        "PEER_NETWORKS=''",
        "CONFIGURATION_SET_NAME='cs'",
        "MAX_SEND_RATE='0'",
        "RELAY_COUNT='1'",
        "LIFECYCLE_HOOK=''",
        "SIGNAL_RESOURCE=''",
        '',
      ].join('\n'),
    );
    expect(renderSettings(resolveBootstrapOptions({ ...BASE, maxSendRate: 14, relayCount: 3 }))).toContain(
      "MAX_SEND_RATE='14'\nRELAY_COUNT='3'\n",
    );
  });

  test.each([
    ['a host on its own: every file but the group-only jobs and the milter', BASE, false, false],
    [
      'a host on its own with a configuration set: the milter too',
      { ...BASE, configurationSetName: 'cs' },
      false,
      true,
    ],
    [
      'a relay of a group with a configuration set: every file',
      { ...BASE, lifecycleHook: 'ses-relay-drain', signalResource: 'S/Asg', configurationSetName: 'cs' },
      true,
      true,
    ],
  ])('carries the program for %s, its code without comments, and runs its boot entry', (_what, opts, group, cset) => {
    const dir = carriedProgram(renderScript(opts), group, cset);
    const expected = programFiles().filter(
      (f) => (group || !GROUP_ONLY_FILES.includes(f)) && (cset || f !== CONFIGURATION_SET_FILE),
    );
    expect([...GROUP_ONLY_FILES, CONFIGURATION_SET_FILE].every((f) => programFiles().includes(f))).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(expected);
    for (const f of expected) {
      const carried = readFileSync(join(dir, f), 'utf8').split('\n');
      // No comment line is left, shellcheck's directives neither...
      expect(carried.filter((l) => /^\s*#/.test(l))).toEqual([]);
      const source = readFileSync(join(PROGRAM_DIR, f), 'utf8');
      if (f.endsWith('.py')) {
        // ...and the Python is the same program, its syntax tree but the module's docstring.
        const same = spawnSync(
          'python3',
          [
            '-c',
            'import ast, sys\n' +
              'def tree(path, doc):\n' +
              '    t = ast.parse(open(path).read())\n' +
              '    t.body = t.body[1:] if doc else t.body\n' +
              '    return ast.dump(t)\n' +
              'sys.exit(tree(sys.argv[1], True) != tree(sys.argv[2], False))',
            join(PROGRAM_DIR, f),
            join(dir, f),
          ],
          { encoding: 'utf8' },
        );
        expect([f, same.status, same.stderr]).toEqual([f, 0, '']);
        expect(source.startsWith('"""')).toBe(true);
        continue;
      }
      // ...and every line of code is there, in order, without its indentation.
      const code = source
        .split('\n')
        .filter((l) => l.trim() !== '' && !/^\s*#/.test(l))
        .map((l) => l.trimStart());
      expect(carried.filter((l) => l.trim() !== '')).toEqual(code);
    }
    expect(installerOf(renderScript(opts))).toContain(
      `ln -sf ${PROGRAM_PATH}/boot.sh ${INSTALLED_SCRIPT_PATH}\nbash ${PROGRAM_PATH}/boot.sh\n`,
    );
  });

  requireTool('shellcheck')('the shell code as carried (no comments, no indentation) is shellcheck clean', () => {
    // Linted with shellcheck's directives (their reasons dropped), which the bundle leaves out
    // (comments to bash): the same code, every line in order (the test above).
    const dir = mkdtempSync(join(tmpdir(), 'ses-relay-code-'));
    const files = programFiles().filter((f) => f.endsWith('.sh'));
    for (const f of files) writeFileSync(join(dir, f), codeOnly(f, readFileSync(join(PROGRAM_DIR, f), 'utf8'), true));
    const r = spawnSync('shellcheck', ['-s', 'bash', '-x', '-e', 'SC2031', ...files], { cwd: dir, encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });

  test('the program SesRelay ships is the source itself, comments included', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ses-relay-full-'));
    expect(spawnSync('tar', ['-xzf', '-', '-C', dir], { input: programArchive() }).status).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(programFiles());
    for (const f of programFiles()) {
      expect(readFileSync(join(dir, f), 'utf8')).toBe(readFileSync(join(PROGRAM_DIR, f), 'utf8'));
    }
    expect(readFileSync(join(dir, 'boot.sh'), 'utf8')).toMatch(/^# ses-relay instance program, the boot entry/);
  });

  function expectContainsAll(text: string, needles: string[]): void {
    for (const needle of needles) expect(text).toContain(needle);
  }

  test('the program keeps the procedure steps and our hardening', () => {
    expectContainsAll(programText(), [
      'want relayhost "[$SES_HOST]:$SES_PORT"',
      'want smtp_tls_security_level secure',
      'want smtp_sasl_security_options "noanonymous, noplaintext"',
      'smtp_fallback_relay=)/#\\1/',
      'postmap "$DB_TYPE:$PF/sasl_passwd"',
      'umask 077',
      '--query SecretString --output text',
    ]);
    expect(programText()).not.toMatch(/smtp_tls_security_level encrypt|set -x/);
  });

  test('the program paces to the send quota: rate from SES, the pacer before every transaction, tlsproxy reuse, short backoff', () => {
    expectContainsAll(programText(), [
      'aws sesv2 get-account --region "$SES_REGION" --query SendQuota.MaxSendRate --output text',
      // With systemd one pacer for every SMTP client (its socket's); without, one each (Postfix's spawn).
      'cmd="$PYTHON -I -S $HELPERS/pacer.py $1 $PACER_DIR/schedule"',
      'ListenStream=$(postconf -h queue_directory)/private/ses-pace',
      'ExecStart=$cmd',
      'put_service ses-pace unix "ses-pace  unix  -       n       n       -       -       spawn user=ses-relay argv=$cmd"',
      'want smtp_reply_filter "socketmap:unix:private/ses-pace:reply"',
      'want smtp_delivery_status_filter "socketmap:unix:private/ses-pace:pace"',
      'read -r conns RATE_NOTE <<<"$(pace_for "$rate")"',
      'want default_destination_concurrency_limit "$conns"',
      'want smtp_destination_rate_delay 0s',
      'want smtp_connection_cache_destinations "$SES_HOST"',
      'want smtp_tls_connection_reuse yes',
      'want connection_cache_ttl_limit 5s',
      'put_service tlsproxy unix "tlsproxy  unix  -       -       n       -       0       tlsproxy"',
      'want minimal_backoff_time 10s',
    ]);
  });

  /** Runs one function of a program file on its own in bash (the file sourced), after `prelude`. */
  function runFunction(file: string, name: string, prelude: string, args: string[]) {
    const script = `. ${join(PROGRAM_DIR, file)}\n${prelude}\n${name} "$@"`;
    return spawnSync('bash', ['-c', script, name, ...args], { encoding: 'utf8' });
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
    const prelude = 'SES_REGION=eu-west-1\naws() { printf "%s" "$ANSWER"; }\nANSWER=$1';
    const r = runFunction('pacer.sh', 'read_quota', prelude, [answer]);
    expect(r.stdout).toBe(`${rate}\n`);
    expect(r.stderr).toBe(
      logged ? 'ses-relay: cannot read the SES send quota (ses:GetAccount); keeping to 1 message/s\n' : '',
    );
  });

  // start_pacer with systemd units (PACE_UNITS=1) and a systemctl that says what it was asked: a
  // marked restart reloads systemd's units, restarts the pacer and has Postfix reloaded (CHANGED),
  // the mark left for apply_relay; unmarked, the socket only; without units (spawn), nothing.
  test.each([
    [
      'marked',
      '1',
      true,
      [
        'daemon-reload',
        'enable --quiet --now ses-relay-pace.socket',
        'try-restart --no-block ses-relay-pace.service',
        'CHANGED=1 marked',
      ],
    ],
    ['not marked', '1', false, ['enable --quiet --now ses-relay-pace.socket', 'CHANGED=0']],
    ['without units', '', true, ['CHANGED=0 marked']],
  ])('start_pacer, %s', (_, units, marked, lines) => {
    const prelude = `PACER_DIR=$(mktemp -d); PACE_UNITS=${units}
${marked ? 'touch "$PACER_DIR/restart"' : ''}
systemctl() { echo "$*"; }
trap 'echo "CHANGED=$CHANGED$([ ! -e "$PACER_DIR/restart" ] || echo " marked")"; rm -rf "$PACER_DIR"' EXIT`;
    const r = runFunction('pacer.sh', 'start_pacer', prelude, []);
    expect([r.status, r.stdout.trim().split('\n')]).toEqual([0, lines]);
  });

  // apply_relay: a pacer restart marked (a changed pacer) stays marked until Postfix has taken its
  // configuration, so a run stopped before leaves it for the next (start_pacer and apply_postfix
  // stand-ins; the real ones run in the booted suite).
  test.each([
    ['stops the run', 'stays', 'return 1', 1, 'marked\n'],
    ['succeeds', 'goes', 'return 0', 0, ''],
  ])('apply_relay: when Postfix taking its configuration %s, the restart mark %s', (_, _mark, body, code, left) => {
    const prelude = `PACER_DIR=$(mktemp -d); touch "$PACER_DIR/restart"
start_pacer() { :; }
apply_postfix() { ${body}; }
trap '[ ! -e "$PACER_DIR/restart" ] || echo marked; rm -rf "$PACER_DIR"' EXIT`;
    const r = runFunction('pacer.sh', 'apply_relay', prelude, []);
    expect([r.status, r.stdout]).toEqual([code, left]);
  });

  // pace_for with the program's PER_CONNECTION (2) and MAX_CONNECTIONS (50).
  test.each([
    ['1', '1 at most 1 recipients/s, each delivery paced, over up to 1 connection(s)'],
    ['1.9', '1 at most 1.9 recipients/s, each delivery paced, over up to 1 connection(s)'],
    ['4', '2 at most 4 recipients/s, each delivery paced, over up to 2 connection(s)'],
    ['5', '3 at most 5 recipients/s, each delivery paced, over up to 3 connection(s)'],
    ['50', '25 at most 50 recipients/s, each delivery paced, over up to 25 connection(s)'],
    ['50.0', '25 at most 50.0 recipients/s, each delivery paced, over up to 25 connection(s)'],
    ['100000', '50 at most 100000 recipients/s, each delivery paced, over up to 50 connection(s)'],
    ['0.001', '1 at most 0.001 recipients/s, each delivery paced, over up to 1 connection(s)'],
  ])('pace_for %s: connections and log note', (rate, expected) => {
    const r = runFunction('pacer.sh', 'pace_for', '', [rate]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${expected}\n`);
  });

  // share_of: a relay's share of the rate, never 0 for what the options accept (a rate of 1 to
  // 100000, 1 to 1000 relays): pacing is never off.
  test.each([
    ['1', '1000', '0.001'],
    ['14', '3', '4.66667'],
    ['1.5', '1000', '0.0015'],
    ['100000', '1000', '100'],
    ['50', '2', '25'],
  ])('share_of %s over %s relays is %s', (rate, relays, share) => {
    const r = runFunction('pacer.sh', 'share_of', '', [rate, relays]);
    expect([r.stdout, r.stderr]).toEqual([`${share}\n`, '']);
  });

  test.each(VARIANTS)('%s stays under the EC2 user-data limit in both formats', (_name, opts) => {
    for (const format of [BootstrapFormat.SHELL, BootstrapFormat.CLOUD_CONFIG]) {
      expect(Buffer.byteLength(renderBootstrap(opts, format))).toBeLessThan(USER_DATA_LIMIT);
    }
  });

  requireTool('shellcheck').each(VARIANTS)(
    '%s is shellcheck clean, and so is the installer it carries',
    (_name, opts) => {
      const script = renderScript(opts);
      for (const input of [script, installerOf(script)]) {
        const r = spawnSync('shellcheck', ['-s', 'bash', '-'], { input, encoding: 'utf8' });
        expect(r.stdout).toBe('');
        expect(r.status).toBe(0);
      }
    },
  );

  requireTool('shellcheck')('every shell file of the program is shellcheck clean, its sources followed', () => {
    const files = programFiles().filter((f) => f.endsWith('.sh'));
    expect(files.length).toBeGreaterThan(5);
    const r = spawnSync('shellcheck', ['-s', 'bash', '-x', ...files], { cwd: PROGRAM_DIR, encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });

  test("cloud-config carries the script's installer, compressed as the script carries it, written 0700 and run once", () => {
    const doc = renderBootstrap(BASE, BootstrapFormat.CLOUD_CONFIG);
    expect(doc.startsWith('#cloud-config\n')).toBe(true);
    const parsed = parse(doc);
    expect(parsed.write_files).toEqual([
      {
        path: CLOUD_CONFIG_SCRIPT_PATH,
        owner: 'root:root',
        permissions: '0700',
        encoding: 'gz+b64',
        content: expect.any(String),
      },
    ]);
    const installer = installerOf(doc);
    expect(installer).toBe(installerOf(renderScript(BASE)));
    expect(installer.startsWith('#!/bin/bash\n')).toBe(true);
    expect(parsed.runcmd).toEqual([[CLOUD_CONFIG_SCRIPT_PATH]]);
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

describe('installer fetching the program from S3 (SesRelay user data)', () => {
  const from = { bucket: 'cdk-assets-bucket', key: 'abc.tar.gz', region: 'eu-west-1' };
  const text = renderS3Installer(resolveBootstrapOptions(BASE), from);

  test('fetches with the instance role, checks the SHA-256, then installs and runs the program', () => {
    expectLines(text, [
      'ensure_aws_cli',
      'aws s3 cp "s3://cdk-assets-bucket/abc.tar.gz" "$archive" --region eu-west-1 --only-show-errors',
      `echo "${programSha256()}  $archive" | sha256sum -c --quiet`,
      `tar -xzf "$archive" -C ${PROGRAM_PATH}.new --no-same-owner`,
      `bash ${PROGRAM_PATH}/boot.sh`,
    ]);
    expect(text.startsWith('(\nset -euo pipefail\n')).toBe(true);
    expect(text.endsWith('\n)')).toBe(true);
  });

  test('stays small whatever the options (at most 4 KB)', () => {
    const largest = renderS3Installer(
      resolveBootstrapOptions({
        ...BASE,
        relayNetworks: Array.from({ length: 20 }, (_, i) => `10.${i}.0.0/16`),
        configurationSetName: 'c'.repeat(64),
        maxSendRate: 100000,
        relayCount: 1000,
        smtpPort: 2465,
        smtpEndpoint: `${'v'.repeat(60)}.email-smtp.eu-west-1.vpce.amazonaws.com`,
      }),
      { bucket: 'b'.repeat(63), key: `${'k'.repeat(64)}.tar.gz`, region: 'ap-southeast-4' },
    );
    expect(Buffer.byteLength(largest)).toBeLessThanOrEqual(4096);
  });

  requireTool('shellcheck')('is shellcheck clean', () => {
    const r = spawnSync('shellcheck', ['-s', 'bash', '-'], { input: `#!/bin/bash\n${text}\n`, encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });
});

function expectLines(text: string, lines: string[]): void {
  const all = text.split('\n');
  for (const line of lines) expect(all).toContain(line);
}
