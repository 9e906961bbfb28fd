// The handler against an AWS API emulator (moto server on loopback, from the project-local
// .venv that .ci/run installs), replaying CloudFormation event sequences. After each sequence the
// test asserts what IAM and Secrets Manager hold, and that nothing secret was ever logged.
import { CreateUserCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import type { SmtpCredentialsProperties } from '../../lib/handlers/smtp-credentials/types';
import { deriveSmtpPassword } from '../../lib/smtp';
import { describeMoto, type Moto, startMoto } from '../helpers/moto';

jest.setTimeout(60000);

describeMoto('smtp-credentials handler against moto', () => {
  let moto: Moto;
  let handler: (e: CloudFormationCustomResourceEvent) => Promise<{ PhysicalResourceId: string }>;
  let iam: IAMClient;
  let sm: SecretsManagerClient;
  const logs: string[] = [];
  const secretKeys: string[] = [];
  let n = 0;

  beforeAll(async () => {
    moto = await startMoto();
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'eu-west-1',
    });
    iam = new IAMClient({});
    sm = new SecretsManagerClient({});
    // Record every secret access key IAM hands out, to prove none is ever logged.
    const send = IAMClient.prototype.send;
    jest.spyOn(IAMClient.prototype, 'send').mockImplementation(async function (this: IAMClient, ...args: unknown[]) {
      const out = await (send as (...a: unknown[]) => Promise<{ AccessKey?: { SecretAccessKey?: string } }>).apply(
        this,
        args,
      );
      if (out?.AccessKey?.SecretAccessKey) secretKeys.push(out.AccessKey.SecretAccessKey);
      return out;
    });
    for (const stream of ['log', 'error', 'warn', 'info'] as const) {
      jest.spyOn(console, stream).mockImplementation((...a: unknown[]) => {
        logs.push(a.map(String).join(' '));
      });
    }
    ({ handler } = await import('../../lib/handlers/smtp-credentials'));
  });

  afterAll(() => {
    jest.restoreAllMocks();
    moto?.stop();
  });

  /** A fresh user and secret, as the construct's stack would create them. */
  async function fixture(): Promise<SmtpCredentialsProperties> {
    const name = `smtp-user-${++n}`;
    await iam.send(new CreateUserCommand({ UserName: name }));
    const s = await sm.send(
      new CreateSecretCommand({ Name: `smtp-secret-${n}`, SecretString: 'generated-placeholder' }),
    );
    return {
      UserName: name,
      SecretArn: s.ARN ?? '',
      SmtpRegion: 'eu-west-1',
      Endpoint: 'email-smtp.eu-west-1.amazonaws.com',
      Port: '587',
    };
  }

  const event = (type: string, props: SmtpCredentialsProperties, extra: Record<string, unknown> = {}) =>
    ({
      RequestType: type,
      RequestId: `r${n}`,
      ResourceProperties: { ServiceToken: 't', ...props },
      ...extra,
    }) as unknown as CloudFormationCustomResourceEvent;

  async function keys(user: string): Promise<string[]> {
    const out = await iam.send(new ListAccessKeysCommand({ UserName: user }));
    return (out.AccessKeyMetadata ?? []).map((k) => k.AccessKeyId ?? '').sort();
  }

  async function stored(secretArn: string) {
    return JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString ?? '');
  }

  /** The stored password is the derivation of the secret key IAM issued for the stored key id. */
  async function expectValidSecret(props: SmtpCredentialsProperties, keyId: string) {
    const value = await stored(props.SecretArn);
    expect(value.username).toBe(keyId);
    expect(secretKeys.map((k) => deriveSmtpPassword(k, props.SmtpRegion))).toContain(value.password);
    expect(value).toMatchObject({ region: props.SmtpRegion, endpoint: props.Endpoint, port: Number(props.Port) });
  }

  test('create', async () => {
    const p = await fixture();
    const r = await handler(event('Create', p));
    expect(await keys(p.UserName)).toEqual([r.PhysicalResourceId]);
    await expectValidSecret(p, r.PhysicalResourceId);
  });

  test('create delivered twice', async () => {
    const p = await fixture();
    const a = await handler(event('Create', p));
    const b = await handler(event('Create', p));
    expect(b.PhysicalResourceId).toBe(a.PhysicalResourceId);
    expect(await keys(p.UserName)).toEqual([a.PhysicalResourceId]);
  });

  test('update (new region) then cleanup delete', async () => {
    const p = await fixture();
    const a = await handler(event('Create', p));
    const q = { ...p, SmtpRegion: 'us-west-1', Endpoint: 'email-smtp.us-west-1.amazonaws.com' };
    const b = await handler(event('Update', q, { PhysicalResourceId: a.PhysicalResourceId, OldResourceProperties: p }));
    expect(b.PhysicalResourceId).not.toBe(a.PhysicalResourceId);
    expect(await keys(p.UserName)).toEqual([a.PhysicalResourceId, b.PhysicalResourceId].sort());
    await expectValidSecret(q, b.PhysicalResourceId);
    await handler(event('Delete', p, { PhysicalResourceId: a.PhysicalResourceId }));
    expect(await keys(p.UserName)).toEqual([b.PhysicalResourceId]);
  });

  test('update that fails elsewhere, then rolls back', async () => {
    const p = await fixture();
    const a = await handler(event('Create', p));
    const q = { ...p, SmtpRegion: 'us-west-1' };
    const b = await handler(event('Update', q, { PhysicalResourceId: a.PhysicalResourceId, OldResourceProperties: p }));
    const back = await handler(
      event('Update', p, { PhysicalResourceId: b.PhysicalResourceId, OldResourceProperties: q }),
    );
    expect(back.PhysicalResourceId).toBe(a.PhysicalResourceId);
    await handler(event('Delete', q, { PhysicalResourceId: b.PhysicalResourceId }));
    expect(await keys(p.UserName)).toEqual([a.PhysicalResourceId]);
    await expectValidSecret(p, a.PhysicalResourceId);
  });

  test('delete, and delete twice', async () => {
    const p = await fixture();
    const a = await handler(event('Create', p));
    await handler(event('Delete', p, { PhysicalResourceId: a.PhysicalResourceId }));
    expect(await keys(p.UserName)).toEqual([]);
    await expect(handler(event('Delete', p, { PhysicalResourceId: a.PhysicalResourceId }))).resolves.toBeDefined();
    expect(await keys(p.UserName)).toEqual([]);
  });

  test('nothing secret was logged across all sequences', () => {
    expect(secretKeys.length).toBeGreaterThanOrEqual(6);
    expect(logs.length).toBeGreaterThan(0);
    const text = logs.join('\n');
    for (const key of secretKeys) {
      expect(text).not.toContain(key);
      for (const region of ['eu-west-1', 'us-west-1']) expect(text).not.toContain(deriveSmtpPassword(key, region));
    }
  });
});
