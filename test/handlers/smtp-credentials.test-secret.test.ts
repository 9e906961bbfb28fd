// testSecret and its SMTP probe against the SES stand-in (test/harness/ses-standin.ts) on
// loopback, over real TLS: a test CA signs a certificate for the SES host name, and the probe
// connects to 127.0.0.1 while verifying the certificate for that name. The stand-in accepts only
// the new credentials; no message is ever sent.
import { type AddressInfo, createServer } from 'node:net';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { SMTPServer } from 'smtp-server';
import { probeTarget, testSecret } from '../../lib/handlers/smtp-credentials/rotation';
import {
  isRetryable,
  smtpAuthenticate,
  smtpAuthenticateWithRetry,
} from '../../lib/handlers/smtp-credentials/smtp-probe';
import type { StoredCredentials } from '../../lib/handlers/smtp-credentials/types';
import { makeTestTls, type TestTls } from '../harness/tls';
import { type StandIn, startStandIn } from '../helpers/standin';

jest.setTimeout(60000);

const HOST = 'email-smtp.eu-west-1.amazonaws.com';
const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:smtp-AbCdEf';
const TOKEN = '6f1d3e1c-7a5b-4a4e-9d8e-0c1b2a394857';
const NEW: StoredCredentials = {
  username: 'EXAMPLENEWKEYID00002',
  password: 'BNewPasswordDerivedFromTheNewKey/0123456789+ab',
  region: 'eu-west-1',
  endpoint: HOST,
  port: 587,
};
const OLD_PASSWORD = 'BOldPasswordDerivedFromTheOldKey/9876543210+cd';

const sm = mockClient(SecretsManagerClient);
let tls: TestTls;
const standIns: StandIn[] = [];
let logged: string[];

beforeAll(() => {
  tls = makeTestTls(HOST);
});
beforeEach(() => {
  sm.reset();
  logged = [];
  jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
    logged.push(a.join(' '));
  });
});
afterEach(async () => {
  jest.restoreAllMocks();
  await Promise.all(standIns.splice(0).map((s) => s.stop()));
});

async function standIn(options: { wrapper?: boolean; mode?: string } = {}): Promise<StandIn> {
  const s = await startStandIn({ tls, host: HOST, user: NEW.username, password: NEW.password, ...options });
  standIns.push(s);
  return s;
}

/** The secret's pending version holds these credentials (and only under that token and stage). */
function pending(value: StoredCredentials) {
  sm.on(GetSecretValueCommand, { SecretId: SECRET, VersionId: TOKEN, VersionStage: 'AWSPENDING' }).resolves({
    SecretString: JSON.stringify(value),
  });
}

/** The AUTH events, without `at` (when each reached this process). */
const auths = (s: StandIn) => s.events.filter((e) => e.event === 'auth').map(({ at: _at, ...e }) => e);

test('the pending credentials authenticate over STARTTLS on 587: the step passes, no mail is sent', async () => {
  const s = await standIn();
  pending(NEW);
  await testSecret(SECRET, TOKEN, { connectTo: '127.0.0.1', connectPort: s.port, ca: tls.ca });
  expect(s.events.map((e) => e.event)).toEqual(['listening', 'connect', 'secure', 'auth']);
  expect(auths(s)).toEqual([{ event: 'auth', method: 'PLAIN', user: NEW.username, ok: true, secure: true }]);
  expect(logged.join('\n')).toContain(`accepted access key ${NEW.username} (attempt 1)`);
  expect(logged.join('\n')).not.toContain(NEW.password);
});

test('a secret naming a VPC endpoint and port 25: testSecret authenticates at the regional endpoint on 587', async () => {
  const s = await standIn();
  pending({ ...NEW, endpoint: 'vpce-0abc-123.email-smtp.eu-west-1.vpce.amazonaws.com', port: 25 });
  // connectTo/connectPort only reroute the TCP connection: the name verified over TLS is the target's.
  await testSecret(SECRET, TOKEN, { connectTo: '127.0.0.1', connectPort: s.port, ca: tls.ca });
  expect(auths(s)).toEqual([{ event: 'auth', method: 'PLAIN', user: NEW.username, ok: true, secure: true }]);
  expect(logged.join('\n')).toContain(`testSecret: SES at ${HOST}:587 accepted access key ${NEW.username}`);
});

test('the TLS wrapper ports (465, 2465) authenticate from the first byte', async () => {
  const s = await standIn({ wrapper: true });
  await smtpAuthenticate({ host: HOST, port: 465, connectTo: '127.0.0.1', connectPort: s.port, ...cred(), ca: tls.ca });
  expect(auths(s)).toEqual([{ event: 'auth', method: 'PLAIN', user: NEW.username, ok: true, secure: true }]);
});

test('an old password never authenticates: the step fails within its deadline, naming no secret', async () => {
  const s = await standIn();
  pending({ ...NEW, password: OLD_PASSWORD });
  const started = Date.now();
  const err = await testSecret(SECRET, TOKEN, {
    connectTo: '127.0.0.1',
    connectPort: s.port,
    ca: tls.ca,
    deadline: Date.now() + 3000,
    firstDelayMs: 200,
  }).catch((e: Error) => e);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toMatch(
    new RegExp(
      `^SMTP AUTH as ${NEW.username} at ${HOST}:587 failed after \\d+ attempt\\(s\\): AUTH PLAIN: the server answered 535`,
    ),
  );
  expect((err as Error).message).not.toContain(OLD_PASSWORD);
  expect(Date.now() - started).toBeLessThan(6000);
  expect(auths(s).length).toBeGreaterThan(1); // retried while IAM might still be propagating
  expect(auths(s).every((a) => a.ok === false)).toBe(true);
  expect(logged.join('\n')).not.toContain(OLD_PASSWORD);
  expect(s.events.some((e) => e.event === 'message')).toBe(false);
});

test('a key SES starts accepting after a while (IAM propagation) passes on a later attempt', async () => {
  const s = await standIn({ mode: '535' });
  pending(NEW);
  setTimeout(() => s.setMode('accept'), 1200);
  await testSecret(SECRET, TOKEN, {
    connectTo: '127.0.0.1',
    connectPort: s.port,
    ca: tls.ca,
    deadline: Date.now() + 20000,
    firstDelayMs: 300,
  });
  const results = auths(s).map((a) => a.ok);
  expect(results[results.length - 1]).toBe(true);
  expect(results.length).toBeGreaterThan(1);
  expect(logged.join('\n')).toMatch(/testSecret: attempt 1 failed \(AUTH PLAIN: the server answered 535/);
});

test('a certificate for another name fails at once, before any AUTH, and is not retried', async () => {
  const s = await standIn();
  const err = await smtpAuthenticateWithRetry(
    {
      host: 'email-smtp.us-east-1.amazonaws.com',
      port: 587,
      connectTo: '127.0.0.1',
      connectPort: s.port,
      ...cred(),
      ca: tls.ca,
    },
    { deadline: Date.now() + 10000, firstDelayMs: 100 },
  ).catch((e: Error) => e);
  expect((err as Error).message).toMatch(/failed after 1 attempt\(s\): .*(altnames|does not match)/i);
  expect(auths(s)).toEqual([]);
});

test('a certificate from an unknown CA (the default store) fails before AUTH', async () => {
  const s = await standIn();
  const err = await smtpAuthenticate({
    host: HOST,
    port: 587,
    connectTo: '127.0.0.1',
    connectPort: s.port,
    ...cred(),
  }).catch((e: Error) => e);
  expect((err as Error).message).toMatch(/self[- ]signed|unable to (verify|get)/i);
  expect(auths(s)).toEqual([]);
});

test('a server that offers no STARTTLS never gets the credentials', async () => {
  const server = new SMTPServer({ disabledCommands: ['STARTTLS'], authOptional: true, logger: false });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = (server as unknown as { server: { address(): AddressInfo } }).server.address();
  const err = await smtpAuthenticate({ host: HOST, port: 587, connectTo: '127.0.0.1', connectPort: port, ...cred() })
    .catch((e: Error) => e)
    .finally(() => new Promise((resolve) => server.close(() => resolve(undefined))));
  expect((err as Error).message).toBe('EHLO: the server answered without STARTTLS: refusing to authenticate in clear');
});

test('a server that never answers fails the attempt after its time limit, as a retryable error', async () => {
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as AddressInfo;
  const started = Date.now();
  const err = await smtpAuthenticate({
    host: HOST,
    port: 587,
    connectTo: '127.0.0.1',
    connectPort: port,
    timeoutMs: 300,
    ...cred(),
  }).catch((e: Error) => e);
  silent.close();
  expect((err as Error).message).toBe('no answer within 300 ms');
  expect(isRetryable(err)).toBe(true);
  expect(Date.now() - started).toBeLessThan(3000);
});

test('a version that is not AWSPENDING any more fails the step without connecting', async () => {
  sm.on(GetSecretValueCommand).rejects(Object.assign(new Error('mismatch'), { name: 'ResourceNotFoundException' }));
  await expect(testSecret(SECRET, TOKEN, { connectTo: '127.0.0.1', connectPort: 9, ca: tls.ca })).rejects.toThrow(
    `version ${TOKEN} of ${SECRET} is not AWSPENDING or holds no SES SMTP credentials`,
  );
});

function cred() {
  return { username: NEW.username, password: NEW.password };
}

test.each<[string, Partial<StoredCredentials>, { host: string; port: number }]>([
  ['the regional endpoint and port of the secret', {}, { host: HOST, port: 587 }],
  ['the TLS wrapper port', { port: 2465 }, { host: HOST, port: 2465 }],
  ['587 instead of 25, which Lambda blocks', { port: 25 }, { host: HOST, port: 587 }],
  [
    'the FIPS endpoint when the secret names it',
    { region: 'us-east-1', endpoint: 'email-smtp-fips.us-east-1.amazonaws.com' },
    { host: 'email-smtp-fips.us-east-1.amazonaws.com', port: 587 },
  ],
  [
    'the public endpoint instead of a VPC endpoint the rotation function cannot reach',
    { endpoint: 'vpce-0abc-123.email-smtp.eu-west-1.vpce.amazonaws.com' },
    { host: HOST, port: 587 },
  ],
])('testSecret authenticates at %s', (_what, change, target) => {
  expect(probeTarget({ ...NEW, ...change })).toEqual(target);
});
