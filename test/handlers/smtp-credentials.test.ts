// Handler unit tests: aws-sdk-client-mock wired to a small stateful fake of IAM access keys and
// Secrets Manager versions, so each test asserts what the account holds afterwards.
import { CreateAccessKeyCommand, DeleteAccessKeyCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../lib/handlers/smtp-credentials';
import type { SmtpCredentialsProperties } from '../../lib/handlers/smtp-credentials/types';
import { deriveSmtpPassword } from '../../lib/smtp';

const iamMock = mockClient(IAMClient);
const smMock = mockClient(SecretsManagerClient);

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:smtp-AbCdEf';
const PROPS: SmtpCredentialsProperties = {
  UserName: 'smtp-user',
  SecretArn: SECRET,
  SmtpRegion: 'eu-west-1',
  Endpoint: 'email-smtp.eu-west-1.amazonaws.com',
  Port: '587',
};

function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name });
}

/** IAM keys per user and secret versions (current, previous), as the services keep them. */
class Account {
  keys = new Map<string, { id: string; secret: string }[]>();
  versions = new Map<string, string[]>();
  private n = 0;
  putFailures = 0;

  constructor() {
    iamMock.reset();
    smMock.reset();
    iamMock.on(ListAccessKeysCommand).callsFake((i) => ({
      AccessKeyMetadata: (this.keys.get(i.UserName) ?? []).map((k) => ({ AccessKeyId: k.id, UserName: i.UserName })),
    }));
    iamMock.on(CreateAccessKeyCommand).callsFake((i) => {
      const list = this.keys.get(i.UserName) ?? [];
      if (list.length >= 2) throw awsError('LimitExceededException');
      const key = { id: `ASIAFAKE${String(++this.n).padStart(12, '0')}`, secret: `secret/key+${this.n}` };
      this.keys.set(i.UserName, [...list, key]);
      return { AccessKey: { AccessKeyId: key.id, SecretAccessKey: key.secret, UserName: i.UserName } };
    });
    iamMock.on(DeleteAccessKeyCommand).callsFake((i) => {
      const list = this.keys.get(i.UserName) ?? [];
      if (!list.some((k) => k.id === i.AccessKeyId)) throw awsError('NoSuchEntityException');
      this.keys.set(
        i.UserName,
        list.filter((k) => k.id !== i.AccessKeyId),
      );
      return {};
    });
    smMock.on(PutSecretValueCommand).callsFake((i) => {
      if (this.putFailures-- > 0) throw awsError('InternalServiceError', 'the secret store is down');
      this.versions.set(i.SecretId, [i.SecretString, ...(this.versions.get(i.SecretId) ?? [])].slice(0, 2));
      return {};
    });
    smMock.on(GetSecretValueCommand).callsFake((i) => {
      const v = this.versions.get(i.SecretId) ?? [];
      const value = i.VersionStage === 'AWSPREVIOUS' ? v[1] : v[0];
      if (value === undefined) throw awsError('ResourceNotFoundException');
      return { SecretString: value };
    });
  }

  keyIds(user = 'smtp-user'): string[] {
    return (this.keys.get(user) ?? []).map((k) => k.id);
  }

  current(secret = SECRET) {
    return JSON.parse(this.versions.get(secret)?.[0] ?? '{}');
  }

  secretOf(id: string): string {
    for (const list of this.keys.values()) for (const k of list) if (k.id === id) return k.secret;
    throw new Error(`no key ${id}`);
  }
}

function event(type: 'Create' | 'Update' | 'Delete', props = PROPS, extra: Record<string, unknown> = {}) {
  return {
    RequestType: type,
    RequestId: 'req-1',
    ResourceProperties: { ServiceToken: 'arn:token', ...props },
    ...extra,
  } as unknown as CloudFormationCustomResourceEvent;
}

let account: Account;
let logged: string[];
beforeEach(() => {
  account = new Account();
  logged = [];
  jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
    logged.push(a.join(' '));
  });
});
afterEach(() => jest.restoreAllMocks());

describe('Create', () => {
  test('creates one key and stores its derived SMTP password; Data has only ARN and key id', async () => {
    const r = await handler(event('Create'));
    const [id] = account.keyIds();
    expect(r).toEqual({ PhysicalResourceId: id, Data: { SecretArn: SECRET, AccessKeyId: id } });
    expect(account.current()).toEqual({
      username: id,
      password: deriveSmtpPassword(account.secretOf(id), 'eu-west-1'),
      region: 'eu-west-1',
      endpoint: 'email-smtp.eu-west-1.amazonaws.com',
      port: 587,
    });
    expect(logged.join('\n')).not.toContain(account.current().password);
    expect(logged.join('\n')).not.toContain(account.secretOf(id));
  });

  test('delivered twice, leaves one key', async () => {
    const first = await handler(event('Create'));
    const second = await handler(event('Create'));
    expect(second).toEqual(first);
    expect(account.keyIds()).toHaveLength(1);
  });

  test('a secret write failing half-way deletes the key it made, and the error holds no secret', async () => {
    account.putFailures = 1;
    const err = await handler(event('Create')).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe(
      `cannot store the credentials in ${SECRET}: InternalServiceError: the secret store is down`,
    );
    expect(account.keyIds()).toEqual([]);
    expect(iamMock.commandCalls(DeleteAccessKeyCommand)).toHaveLength(1);
  });

  test('refuses to exceed IAM two keys per user, naming them', async () => {
    account.keys.set('smtp-user', [
      { id: 'ASIAOTHER00000000001', secret: 'a' },
      { id: 'ASIAOTHER00000000002', secret: 'b' },
    ]);
    await expect(handler(event('Create'))).rejects.toThrow(
      'IAM user smtp-user already has 2 access keys (ASIAOTHER00000000001, ASIAOTHER00000000002); IAM allows 2',
    );
    expect(account.keyIds()).toHaveLength(2);
  });
});

describe('Update', () => {
  test('region change: new key first, new physical id, old key left for the cleanup Delete', async () => {
    const { PhysicalResourceId: old } = await handler(event('Create'));
    const next = { ...PROPS, SmtpRegion: 'eu-central-1', Endpoint: 'email-smtp.eu-central-1.amazonaws.com' };
    const r = await handler(event('Update', next, { PhysicalResourceId: old, OldResourceProperties: PROPS }));
    expect(r.PhysicalResourceId).not.toBe(old);
    expect(account.keyIds()).toEqual([old, r.PhysicalResourceId]);
    expect(account.current().password).toBe(deriveSmtpPassword(account.secretOf(r.PhysicalResourceId), 'eu-central-1'));
    // CloudFormation's cleanup Delete carries the old id and properties.
    await handler(event('Delete', PROPS, { PhysicalResourceId: old }));
    expect(account.keyIds()).toEqual([r.PhysicalResourceId]);
  });

  test('a rolled-back update restores the old, working key: no third key', async () => {
    const { PhysicalResourceId: old } = await handler(event('Create'));
    const oldPassword = account.current().password;
    const next = { ...PROPS, SmtpRegion: 'eu-central-1' };
    const fwd = await handler(event('Update', next, { PhysicalResourceId: old, OldResourceProperties: PROPS }));
    // Another resource failed: CloudFormation rolls back with the old properties...
    const back = await handler(
      event('Update', PROPS, { PhysicalResourceId: fwd.PhysicalResourceId, OldResourceProperties: next }),
    );
    expect(back.PhysicalResourceId).toBe(old);
    expect(account.current()).toMatchObject({ username: old, password: oldPassword, region: 'eu-west-1' });
    // ...then deletes what the failed update made.
    await handler(event('Delete', next, { PhysicalResourceId: fwd.PhysicalResourceId }));
    expect(account.keyIds()).toEqual([old]);
  });

  test('port or endpoint change keeps the key and rewrites the secret', async () => {
    const { PhysicalResourceId: id } = await handler(event('Create'));
    const next = { ...PROPS, Port: '2587' };
    const r = await handler(event('Update', next, { PhysicalResourceId: id, OldResourceProperties: PROPS }));
    expect(r.PhysicalResourceId).toBe(id);
    expect(account.keyIds()).toEqual([id]);
    expect(account.current()).toMatchObject({ username: id, port: 2587 });
  });
});

describe('Delete', () => {
  test('deletes exactly the key named by the physical id', async () => {
    account.keys.set('smtp-user', [{ id: 'ASIAKEEP000000000001', secret: 'a' }]);
    const { PhysicalResourceId: id } = await handler(event('Create'));
    await handler(event('Delete', PROPS, { PhysicalResourceId: id }));
    expect(account.keyIds()).toEqual(['ASIAKEEP000000000001']);
  });

  test('an already-deleted key is success; twice is fine', async () => {
    const { PhysicalResourceId: id } = await handler(event('Create'));
    await handler(event('Delete', PROPS, { PhysicalResourceId: id }));
    await expect(handler(event('Delete', PROPS, { PhysicalResourceId: id }))).resolves.toEqual({
      PhysicalResourceId: id,
    });
  });

  test('any other error is reported, not swallowed', async () => {
    iamMock
      .on(DeleteAccessKeyCommand)
      .rejects(awsError('AccessDenied', 'not authorized to perform iam:DeleteAccessKey'));
    await expect(handler(event('Delete', PROPS, { PhysicalResourceId: 'AKIAIOSFODNN7EXAMPLE' }))).rejects.toThrow(
      'cannot delete access key AKIAIOSFODNN7EXAMPLE of smtp-user: AccessDenied: not authorized to perform iam:DeleteAccessKey',
    );
  });

  test('the placeholder id of a failed Create deletes nothing', async () => {
    await handler(
      event('Delete', PROPS, { PhysicalResourceId: 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED' }),
    );
    expect(iamMock.commandCalls(DeleteAccessKeyCommand)).toHaveLength(0);
  });
});
