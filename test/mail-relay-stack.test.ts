import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import { DmarcPolicy, type MailRelayStackProps } from '../lib';
import { appContext, relayStack } from './helpers/relay-stack';
import { CREDENTIALS_PROPERTY_KEYS, nagFindings, stableTemplate } from './helpers/template';

const ROOT = join(__dirname, '..');
const VENV = join(ROOT, '.venv', 'bin');

describe('MailRelayStack (the app stack)', () => {
  test('the template never contains a secret: no secret string, custom resource with names only', () => {
    const t = relayStack().template();
    const secret = Object.values(t.findResources('AWS::SecretsManager::Secret'))[0].Properties;
    expect(secret.SecretString).toBeUndefined();
    const json = JSON.stringify(t.toJSON());
    expect(json).not.toMatch(/SecretAccessKey|"Password"|SmtpPassword/);
    const cr = Object.values(t.findResources('Custom::SesSmtpCredentials'))[0].Properties;
    expect(Object.keys(cr).sort()).toEqual(CREDENTIALS_PROPERTY_KEYS);
  });

  // With no feature flag set (someone else's app), and with those of this repository's cdk.json
  // (partition literals, for one, change how ARNs and so cdk-nag's findings read).
  test.each([
    ['no feature flags', undefined],
    ["cdk.json's feature flags", appContext()],
  ])('cdk-nag AwsSolutions and NIST 800-53 R5: zero unacknowledged findings, %s', (_what, context) => {
    const { app: a } = relayStack({ hostedZoneId: 'Z0123456789ABC', dmarcPolicy: DmarcPolicy.REJECT }, context);
    expect(nagFindings(a, [new AwsSolutionsChecks(a), new NIST80053R5Checks(a)])).toEqual([]);
  });

  test('with partition literals and a concrete account, ARNs are plain text: synth works, acknowledgments match', () => {
    const { app: a } = relayStack(
      { env: { account: '123456789012', region: 'eu-west-1' } },
      {
        '@aws-cdk/core:enablePartitionLiterals': true,
        'availability-zones:account=123456789012:region=eu-west-1': ['eu-west-1a', 'eu-west-1b'],
      },
    );
    expect(nagFindings(a, [new AwsSolutionsChecks(a), new NIST80053R5Checks(a)])).toEqual([]);
  });

  // Credential rotation (issue 10): on by default, every 30 days; a prop and a context key change it.
  test('credentials rotate every 30 days by default; rotationPeriod changes it, rotation: false turns it off', () => {
    const rules = (props: MailRelayStackProps) =>
      Object.values(relayStack(props).template().findResources('AWS::SecretsManager::RotationSchedule')).map(
        (r) => r.Properties.RotationRules,
      );
    expect(rules({})).toEqual([{ AutomaticallyAfterDays: 30 }]);
    expect(rules({ rotationPeriod: Duration.days(7) })).toEqual([{ AutomaticallyAfterDays: 7 }]);
    expect(rules({ rotation: false })).toEqual([]);
  });

  test('snapshot', () => {
    expect(stableTemplate(relayStack().stack)).toMatchSnapshot();
  });
});

// The scanners run on every synthesized variant of the stack.
const VARIANTS: [string, MailRelayStackProps][] = [
  ['defaults', {}],
  [
    'hosted zone, DMARC, address restrictions',
    { hostedZoneId: 'Z0123456789ABC', dmarcPolicy: DmarcPolicy.REJECT, fromAddresses: ['*@example.com'] },
  ],
  [
    'email address, no configuration set, port 465, no rotation',
    { emailAddress: 'a@example.org', createConfigurationSet: false, smtpPort: 465, rotation: false },
  ],
];

function synthesized(props: MailRelayStackProps): string {
  const { app: a } = relayStack(props);
  const assembly = a.synth();
  return join(assembly.directory, 'SesRelay.template.json');
}

const scanner = (tool: string) => {
  if (!existsSync(join(VENV, tool)) && process.env.CI)
    throw new Error(`${tool} missing: .ci/run installs it into .venv`);
  return existsSync(join(VENV, tool)) ? describe : describe.skip;
};

scanner('cfn-lint')('cfn-lint', () => {
  test.each(VARIANTS)('%s: zero errors', (_name, props) => {
    const r = spawnSync(join(VENV, 'cfn-lint'), ['--format', 'parseable', synthesized(props)], { encoding: 'utf8' });
    const errors = r.stdout.split('\n').filter((l) => /:E\d{4}:/.test(l));
    expect(errors).toEqual([]);
    // cfn-lint exits 2 on errors (4 = warnings only, 0 = clean).
    expect([0, 4]).toContain(r.status);
  });
});

/** Checks skipped in the checkov scan, each for the reason given (the same as the cdk-nag acknowledgments). */
const CHECKOV_SKIPS: Record<string, string> = {
  CKV_AWS_158: 'log groups are encrypted at rest by CloudWatch Logs and hold no secret',
  CKV_AWS_115: 'custom-resource handler called synchronously by CloudFormation; no concurrency limit needed',
  CKV_AWS_116: 'custom-resource handler has no asynchronous invocation to dead-letter',
  CKV_AWS_117: 'the handler calls public IAM and Secrets Manager APIs only; a VPC adds nothing',
  CKV_AWS_173: "the Provider framework's environment holds only the handler function name",
  CKV_AWS_111: 'Session Manager channel actions support no resource-level scoping',
  CKV_AWS_91: 'TCP pass-through SMTP load balancer; Postfix logs every session',
};

scanner('checkov')('checkov', () => {
  test.each(VARIANTS)('%s: zero failed checks beyond the documented skips', (_name, props) => {
    const r = spawnSync(
      join(VENV, 'checkov'),
      [
        '-f',
        synthesized(props),
        '--framework',
        'cloudformation',
        '--output',
        'json',
        '--quiet',
        '--skip-check',
        Object.keys(CHECKOV_SKIPS).join(','),
      ],
      { encoding: 'utf8', timeout: 300000 },
    );
    const report = JSON.parse(r.stdout);
    const failed = (report.results?.failed_checks ?? []).map(
      (c: { check_id: string; resource: string }) => `${c.check_id} ${c.resource}`,
    );
    expect(failed).toEqual([]);
    expect(report.summary.passed).toBeGreaterThan(50);
  });
});

describe('input validation', () => {
  test.each<[string, () => void, RegExp]>([
    [
      'both a domain and an address',
      () => relayStack({ domain: 'example.com', emailAddress: 'a@example.com' }),
      /^SesRelay: domain: got "example\.com" with emailAddress "a@example\.com"; give a domain \(with its hostedZoneId\) or an emailAddress, not both/,
    ],
    [
      'an address with a hosted zone',
      () => relayStack({ emailAddress: 'a@example.org', hostedZoneId: 'Z0123456789ABC' }),
      /^SesRelay: hostedZoneId: got "Z0123456789ABC" with emailAddress "a@example\.org"/,
    ],
    [
      'the whole Internet as relay network',
      () => relayStack({ relayNetworks: ['0.0.0.0/0'] }),
      /^SesRelay\/Hub\/Relay: relayNetworks: refusing network "0\.0\.0\.0\/0"/,
    ],
    ['no relay network', () => relayStack({ relayNetworks: [] }), /^SesRelay\/Hub: relayNetworks: got none/],
  ])('refuses %s', (_what, make, message) => {
    expect(make).toThrow(message);
  });

  // bin/app.ts as `cdk synth -c key=value` runs it (the CLI hands context over in CDK_CONTEXT_JSON).
  test.each([
    [{ smtpPort: '587;reboot' }, 'context smtpPort: invalid value "587;reboot": a port number, e.g. 587'],
    [{ maxSendRate: 'fast' }, 'context maxSendRate: invalid value "fast": recipients per second, e.g. 14'],
    [{ relayCount: 'two' }, 'context relayCount: invalid value "two": how many relays, e.g. 2'],
    [{ relayCount: '0' }, 'SesRelay/Hub/Relay: relayCount: invalid relay count 0'],
    [{ dmarcPolicy: 'maybe' }, 'context dmarcPolicy: invalid value "maybe": allowed: none, quarantine, reject'],
    [{ rotation: 'no' }, 'context rotation: invalid value "no": true or false'],
    [{ rotationPeriod: '30d' }, 'context rotationPeriod: invalid value "30d": whole days between rotations, e.g. 30'],
    [{ rotationPeriod: '400' }, 'SesRelay/Smtp: rotationPeriod: got 400 days; allowed: whole days from 1 to 365'],
  ])('the app refuses the context %j', (context, message) => {
    const r = spawnSync(process.execPath, [join('node_modules', 'tsx', 'dist', 'cli.mjs'), join('bin', 'app.ts')], {
      encoding: 'utf8',
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context) },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(message);
  });
});

test('the README main command works: npx cdk synth on built-in defaults', () => {
  const out = mkdtempSync(join(tmpdir(), 'ses-relay-synth-'));
  const r = spawnSync('npx', ['--no-install', 'cdk', 'synth', '-q', '--output', out], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CDK_DEFAULT_REGION: '' },
  });
  expect(r.stderr).not.toMatch(/Error/);
  // cdk.json carries the feature flags `cdk init` writes for the installed aws-cdk-lib (issue 13).
  expect(r.stderr).not.toMatch(/feature flags are not configured/);
  expect(r.status).toBe(0);
  expect(existsSync(join(out, 'SesRelay.template.json'))).toBe(true);
  writeFileSync(join(out, 'checked'), '');
});
