import {
  GetAccountCommand,
  GetConfigurationSetCommand,
  GetEmailIdentityCommand,
  SESv2Client,
} from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { runCaptured } from '../helpers/cli';

const ses = mockClient(SESv2Client);

function notFound(): Error {
  return Object.assign(new Error('not found'), { name: 'NotFoundException' });
}

const doctor = (args: string[]) => runCaptured(['doctor', ...args]);

const PRODUCTION = {
  SendingEnabled: true,
  ProductionAccessEnabled: true,
  EnforcementStatus: 'HEALTHY',
  SendQuota: { Max24HourSend: 50000, MaxSendRate: 14, SentLast24Hours: 120 },
};
const VERIFIED_DOMAIN = {
  IdentityType: 'DOMAIN' as const,
  VerifiedForSendingStatus: true,
  DkimAttributes: { Status: 'SUCCESS' as const, SigningEnabled: true },
  MailFromAttributes: {
    MailFromDomain: 'mail.example.com',
    MailFromDomainStatus: 'SUCCESS' as const,
    BehaviorOnMxFailure: 'USE_DEFAULT_VALUE' as const,
  },
};

beforeEach(() => ses.reset());

test('a healthy account and verified domain: exit 0, every check reported', async () => {
  ses.on(GetAccountCommand).resolves(PRODUCTION);
  ses.on(GetEmailIdentityCommand, { EmailIdentity: 'example.com' }).resolves(VERIFIED_DOMAIN);
  ses.on(GetConfigurationSetCommand).resolves({ ConfigurationSetName: 'relay' });
  const r = await doctor([
    '--smtp-region',
    'eu-west-1',
    '--identity',
    'example.com',
    '--configuration-set-name',
    'relay',
  ]);
  expect(r.stdout).toBe(
    [
      'ok    sending: enabled',
      'ok    account status: HEALTHY',
      'ok    production access: out of the sandbox',
      'ok    quota: 120 of 50000 messages in the last 24 h; at most 14 per second',
      'ok    identity: example.com (DOMAIN) verified for sending',
      'ok    DKIM: SUCCESS',
      'ok    MAIL FROM: mail.example.com: SUCCESS',
      'ok    configuration set: relay exists',
      'SES in eu-west-1 can send from example.com.',
      '',
    ].join('\n'),
  );
  expect(r.code).toBe(0);
});

test('an address of a verified domain can send; the sandbox is a warning', async () => {
  ses.on(GetAccountCommand).resolves({ ...PRODUCTION, ProductionAccessEnabled: false });
  ses.on(GetEmailIdentityCommand, { EmailIdentity: 'app@example.com' }).rejects(notFound());
  ses.on(GetEmailIdentityCommand, { EmailIdentity: 'example.com' }).resolves(VERIFIED_DOMAIN);
  const r = await doctor(['--smtp-region', 'eu-west-1', '--identity', 'app@example.com']);
  expect(r.stdout).toContain('warn  production access: sandbox: mail only to verified recipients');
  expect(r.stdout).toContain('ok    identity: example.com (DOMAIN) verified for sending');
  expect(r.code).toBe(0);
});

test.each([
  [
    'an unknown identity',
    {},
    () => ses.on(GetEmailIdentityCommand).rejects(notFound()),
    'FAIL  identity: other.org is not an SES identity in eu-west-1',
  ],
  [
    'an unverified identity with pending DKIM',
    {},
    () =>
      ses.on(GetEmailIdentityCommand).resolves({
        ...VERIFIED_DOMAIN,
        VerifiedForSendingStatus: false,
        DkimAttributes: { Status: 'PENDING', SigningEnabled: true },
      }),
    'FAIL  identity: other.org (DOMAIN) not verified yet',
  ],
  [
    'paused sending',
    { SendingEnabled: false },
    () => ses.on(GetEmailIdentityCommand).resolves(VERIFIED_DOMAIN),
    'FAIL  sending: sending is paused',
  ],
  [
    'an exhausted quota',
    { SendQuota: { Max24HourSend: 200, MaxSendRate: 1, SentLast24Hours: 200 } },
    () => ses.on(GetEmailIdentityCommand).resolves(VERIFIED_DOMAIN),
    'FAIL  quota: 200 of 200 messages',
  ],
  [
    'a MAIL FROM that rejects until verified',
    {},
    () =>
      ses.on(GetEmailIdentityCommand).resolves({
        ...VERIFIED_DOMAIN,
        MailFromAttributes: {
          MailFromDomain: 'mail.other.org',
          MailFromDomainStatus: 'PENDING',
          BehaviorOnMxFailure: 'REJECT_MESSAGE',
        },
      }),
    'FAIL  MAIL FROM: mail.other.org: PENDING (SES rejects mail until it verifies)',
  ],
])('%s: exit 1 with the reason', async (_what, account, identity, line) => {
  ses.on(GetAccountCommand).resolves({ ...PRODUCTION, ...account });
  identity();
  const r = await doctor(['--smtp-region', 'eu-west-1', '--identity', 'other.org']);
  expect(r.stdout).toContain(line);
  expect(r.stdout).toContain('SES in eu-west-1 cannot send from other.org: see FAIL above.');
  expect(r.code).toBe(1);
});

test('--json prints the report for scripts', async () => {
  ses.on(GetAccountCommand).resolves(PRODUCTION);
  ses.on(GetEmailIdentityCommand).resolves(VERIFIED_DOMAIN);
  ses.on(GetConfigurationSetCommand).rejects(notFound());
  const r = await doctor([
    '--smtp-region',
    'eu-west-1',
    '--identity',
    'example.com',
    '--configuration-set-name',
    'gone',
    '--json',
  ]);
  const report = JSON.parse(r.stdout);
  expect(report).toMatchObject({ region: 'eu-west-1', identity: 'example.com', canSend: false });
  expect(report.checks).toContainEqual({
    check: 'configuration set',
    severity: 'fail',
    detail: 'gone does not exist in eu-west-1: SES rejects mail naming it',
  });
  expect(r.code).toBe(1);
});

test('SES unreachable (no credentials): a clear message and exit 1', async () => {
  ses
    .on(GetAccountCommand)
    .rejects(
      Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
    );
  const r = await doctor(['--smtp-region', 'eu-west-1', '--identity', 'example.com']);
  expect(r).toEqual({
    code: 1,
    stdout: '',
    stderr:
      'ses-relay: cannot ask SES in eu-west-1: CredentialsProviderError: Could not load credentials from any providers\n',
  });
});

test('bad input: exit 2', async () => {
  expect(await doctor(['--smtp-region', 'nowhere', '--identity', 'x'])).toMatchObject({
    code: 2,
    stderr: expect.stringContaining('invalid region "nowhere"'),
  });
  expect(await doctor(['--smtp-region', 'eu-west-1'])).toMatchObject({
    code: 2,
    stderr: expect.stringContaining('--identity is required'),
  });
});
