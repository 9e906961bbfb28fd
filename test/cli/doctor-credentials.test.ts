// `ses-relay doctor --secret-id`: the SMTP key's age against the rotation period, the last and next
// rotation, a rotation that did not finish; aws-sdk-client-mock for SES, Secrets Manager and IAM.
import { GetAccessKeyLastUsedCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetAccountCommand, GetEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { runCaptured } from '../helpers/cli';

const ses = mockClient(SESv2Client);
const sm = mockClient(SecretsManagerClient);
const iam = mockClient(IAMClient);

const DAY = 86_400_000;
const KEY = 'EXAMPLEROTATEDKEY002';
const PASSWORD = 'BSmtpPasswordThatMustNeverBePrinted0123456789';
const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:SmtpSecret-AbCdEf';

function world(o: { ageDays: number; period?: number; pending?: boolean; keyGone?: boolean }) {
  ses.on(GetAccountCommand).resolves({
    SendingEnabled: true,
    ProductionAccessEnabled: true,
    EnforcementStatus: 'HEALTHY',
    SendQuota: { Max24HourSend: 50000, MaxSendRate: 14, SentLast24Hours: 1 },
  });
  ses.on(GetEmailIdentityCommand).resolves({ IdentityType: 'EMAIL_ADDRESS', VerifiedForSendingStatus: true });
  sm.on(DescribeSecretCommand, { SecretId: SECRET }).resolves({
    RotationEnabled: o.period !== undefined,
    RotationRules: o.period ? { AutomaticallyAfterDays: o.period } : undefined,
    LastRotatedDate: o.period ? new Date('2026-11-13T04:00:00Z') : undefined,
    NextRotationDate: o.period ? new Date('2026-12-13T04:00:00Z') : undefined,
    VersionIdsToStages: {
      v1: ['AWSPREVIOUS'],
      v2: ['AWSCURRENT'],
      ...(o.pending ? { v3: ['AWSPENDING'] } : {}),
    },
  });
  sm.on(GetSecretValueCommand, { SecretId: SECRET, VersionStage: 'AWSCURRENT' }).resolves({
    SecretString: JSON.stringify({ username: KEY, password: PASSWORD, region: 'eu-west-1' }),
  });
  if (o.keyGone) {
    iam.on(GetAccessKeyLastUsedCommand).rejects(Object.assign(new Error('gone'), { name: 'NoSuchEntityException' }));
  } else {
    iam.on(GetAccessKeyLastUsedCommand, { AccessKeyId: KEY }).resolves({ UserName: 'smtp-user' });
  }
  iam.on(ListAccessKeysCommand, { UserName: 'smtp-user' }).resolves({
    AccessKeyMetadata: [
      { AccessKeyId: 'EXAMPLEPREVIOUSKEY01', CreateDate: new Date(Date.now() - 400 * DAY) },
      { AccessKeyId: KEY, CreateDate: new Date(Date.now() - o.ageDays * DAY - 3_600_000) },
    ],
  });
}

const doctor = (extra: string[] = []) =>
  runCaptured(['doctor', '--smtp-region', 'eu-west-1', '--identity', 'a@example.com', '--secret-id', SECRET, ...extra]);

beforeEach(() => {
  ses.reset();
  sm.reset();
  iam.reset();
});

test('a key younger than the rotation period: its age, the last and next rotation; exit 0', async () => {
  world({ ageDays: 12, period: 30 });
  const r = await doctor();
  expect(r.stdout).toContain(`ok    SMTP key: ${KEY} of smtp-user, 12 days old\n`);
  expect(r.stdout).toContain('ok    rotation: every 30 days; last 2026-11-13, next 2026-12-13\n');
  expect(r.stdout).toContain('SES in eu-west-1 can send from a@example.com.');
  expect(r.code).toBe(0);
});

test('a key older than the rotation period is a warning that points at the rotation logs', async () => {
  world({ ageDays: 45, period: 30 });
  const r = await doctor();
  expect(r.stdout).toContain(
    `warn  SMTP key: ${KEY} of smtp-user, 45 days old: older than the rotation period (30 days): check the rotation function's logs\n`,
  );
  expect(r.code).toBe(0);
});

test('a rotation that did not finish is a warning', async () => {
  world({ ageDays: 3, period: 30, pending: true });
  const r = await doctor();
  expect(r.stdout).toContain('warn  rotation: a rotation did not finish (AWSPENDING is set)');
});

test('rotation off: a warning, and a key past 90 days (Security Hub IAM.3) another', async () => {
  world({ ageDays: 100 });
  const r = await doctor();
  expect(r.stdout).toContain(
    `warn  SMTP key: ${KEY} of smtp-user, 100 days old: older than 90 days (Security Hub IAM.3)\n`,
  );
  expect(r.stdout).toContain('warn  rotation: off: the key changes only when the stack changes the credentials');
});

test('a key IAM no longer has fails: relays cannot authenticate; exit 1', async () => {
  world({ ageDays: 1, period: 30, keyGone: true });
  const r = await doctor();
  expect(r.stdout).toContain(`FAIL  SMTP key: ${KEY} no longer exists in IAM: relays cannot authenticate with SES\n`);
  expect(r.code).toBe(1);
});

test('the password is never printed, as text or JSON', async () => {
  world({ ageDays: 12, period: 30 });
  const text = await doctor();
  const json = await doctor(['--json']);
  expect(JSON.parse(json.stdout).checks).toContainEqual({
    check: 'SMTP key',
    severity: 'ok',
    detail: `${KEY} of smtp-user, 12 days old`,
  });
  for (const out of [text.stdout, text.stderr, json.stdout, json.stderr]) expect(out).not.toContain(PASSWORD);
});

test('a secret that cannot be read: a message naming it and the region, exit 1', async () => {
  world({ ageDays: 1, period: 30 });
  sm.on(DescribeSecretCommand).rejects(
    Object.assign(new Error("Secrets Manager can't find the specified secret."), { name: 'ResourceNotFoundException' }),
  );
  const r = await doctor(['--secret-region', 'eu-central-1']);
  expect(r).toMatchObject({
    code: 1,
    stderr: `ses-relay: cannot read the credentials ${SECRET} in eu-central-1: ResourceNotFoundException: Secrets Manager can't find the specified secret.\n`,
  });
  // The secret was asked for where it lives, not in the SES region.
  expect(await sm.call(0).thisValue.config.region()).toBe('eu-central-1');
});

test('a bad --secret-region: exit 2', async () => {
  expect(await doctor(['--secret-region', 'mars'])).toMatchObject({
    code: 2,
    stderr: expect.stringContaining('--secret-region: invalid region "mars"'),
  });
});
