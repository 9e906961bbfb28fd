// The doctor's identity checks against moto server, through the real SDK and wire protocol:
// GetEmailIdentity (found, not found, address falling back to its domain, DKIM state, a default
// configuration set) and GetConfigurationSet. moto 5.1 has no GetAccount and answers a missing
// configuration set with SES v1's error instead of v2's NotFoundException, so the account checks
// and that case are covered by the SDK-mock tests in doctor.test.ts.
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateSecretCommand, RotateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateConfigurationSetCommand, CreateEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { credentialsChecks, identityChecks } from '../../lib/cli/doctor';
import { describeMoto, type Moto, startMoto } from '../helpers/moto';

jest.setTimeout(60000);

describeMoto('doctor identity checks against moto', () => {
  let moto: Moto;
  let ses: SESv2Client;

  beforeAll(async () => {
    moto = await startMoto();
    ses = new SESv2Client({
      endpoint: moto.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    await ses.send(new CreateConfigurationSetCommand({ ConfigurationSetName: 'relay' }));
    // moto leaves every new identity unverified for sending, as SES does until DNS (or the
    // confirmation link of an address) proves it.
    await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: 'example.com', ConfigurationSetName: 'relay' }));
    await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: 'ops@example.net' }));
  });

  afterAll(() => moto?.stop());

  test('an address of a registered domain is checked through its domain', async () => {
    expect(await identityChecks(ses, 'eu-west-1', 'ops@example.com', 'relay')).toEqual([
      { check: 'identity', severity: 'fail', detail: 'example.com (DOMAIN) not verified yet' },
      { check: 'DKIM', severity: 'warn', detail: 'NOT_STARTED, signing disabled' },
      { check: 'default configuration set', severity: 'ok', detail: 'relay' },
      { check: 'configuration set', severity: 'ok', detail: 'relay exists' },
    ]);
  });

  test('an address registered on its own is checked as an address', async () => {
    expect(await identityChecks(ses, 'eu-west-1', 'ops@example.net')).toEqual([
      { check: 'identity', severity: 'fail', detail: 'ops@example.net (EMAIL_ADDRESS) not verified yet' },
      { check: 'DKIM', severity: 'warn', detail: 'NOT_STARTED, signing disabled' },
    ]);
  });

  test('an unknown identity is reported as missing in that region', async () => {
    expect(await identityChecks(ses, 'eu-west-1', 'ops@unknown.example.org')).toEqual([
      { check: 'identity', severity: 'fail', detail: 'ops@unknown.example.org is not an SES identity in eu-west-1' },
    ]);
  });
});

// The key-age and rotation checks through the real SDK against moto: a key made now, a secret
// naming it, rotation every 30 days (moto records the rotation when RotateSecret is called without
// a function and with RotateImmediately false: the current value stays).
describeMoto('doctor credential checks against moto', () => {
  let moto: Moto;
  let iam: IAMClient;
  let sm: SecretsManagerClient;

  beforeAll(async () => {
    moto = await startMoto();
    const config = {
      endpoint: moto.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    };
    iam = new IAMClient(config);
    sm = new SecretsManagerClient(config);
  });

  afterAll(() => moto?.stop());

  async function credentials(rotate: boolean): Promise<{ arn: string; key: string; password: string }> {
    const user = `smtp-${rotate}`;
    await iam.send(new CreateUserCommand({ UserName: user, Path: '/ses-relay/Test/' }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: user }))).AccessKey?.AccessKeyId ?? '';
    const password = 'BSmtpPasswordNeverShown0123456789abcdefghijkl';
    const secret = await sm.send(
      new CreateSecretCommand({
        Name: `smtp-secret-${rotate}`,
        SecretString: JSON.stringify({ username: key, password, region: 'eu-west-1', endpoint: 'h', port: 587 }),
      }),
    );
    if (rotate) {
      await sm.send(
        new RotateSecretCommand({
          SecretId: secret.ARN,
          RotationRules: { AutomaticallyAfterDays: 30 },
          RotateImmediately: false,
        }),
      );
    }
    return { arn: secret.ARN ?? '', key, password };
  }

  test('a new key, rotated every 30 days: its age, the last and next rotation', async () => {
    const { arn, key, password } = await credentials(true);
    const now = new Date();
    const checks = await credentialsChecks(sm, iam, arn, now);
    const today = now.toISOString().slice(0, 10);
    const next = new Date(now.getTime() + 30 * 86_400_000).toISOString().slice(0, 10);
    expect(checks).toEqual([
      { check: 'SMTP key', severity: 'ok', detail: `${key} of smtp-true, 0 days old` },
      { check: 'rotation', severity: 'ok', detail: `every 30 days; last ${today}, next ${next}` },
    ]);
    expect(JSON.stringify(checks)).not.toContain(password);
  });

  test('the same key seen 31 days later is older than the rotation period', async () => {
    const { arn, key } = await credentials(false);
    await sm.send(
      new RotateSecretCommand({
        SecretId: arn,
        RotationRules: { AutomaticallyAfterDays: 30 },
        RotateImmediately: false,
      }),
    );
    const later = new Date(Date.now() + 31 * 86_400_000);
    const [age] = await credentialsChecks(sm, iam, arn, later);
    expect(age).toEqual({
      check: 'SMTP key',
      severity: 'warn',
      detail: `${key} of smtp-false, 31 days old: older than the rotation period (30 days): check the rotation function's logs`,
    });
  });
});
