// Handler unit tests: aws-sdk-client-mock wired to a small stateful fake of IAM access keys and
// Secrets Manager versions and their labels, so each test asserts what the account holds afterwards.
import { randomUUID } from 'node:crypto';
import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  GetAccessKeyLastUsedCommand,
  IAMClient,
  ListAccessKeysCommand,
} from '@aws-sdk/client-iam';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { handler, rotationHandler } from '../../lib/handlers/smtp-credentials';
import type { SmtpCredentialsProperties } from '../../lib/handlers/smtp-credentials/types';
import { SmtpPassword } from '../../lib/smtp/smtp-password';

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
const OWNED: SmtpCredentialsProperties = { ...PROPS, OwnsUserKeys: 'true' };

function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name });
}

interface FakeVersion {
  value?: string;
  stages: string[];
  created?: Date;
}

/** IAM keys per user and secret versions with their labels, as the services keep them. */
class Account {
  keys = new Map<string, { id: string; secret: string }[]>();
  versions = new Map<string, FakeVersion>();
  private n = 0;
  putFailures = 0;

  constructor() {
    iamMock.reset();
    smMock.reset();
    // The secret as CloudFormation creates it: a generated placeholder.
    this.versions.set('initial-version', { value: 'generated-placeholder', stages: ['AWSCURRENT'] });
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
    iamMock.on(GetAccessKeyLastUsedCommand).callsFake((i) => {
      for (const [user, list] of this.keys) if (list.some((k) => k.id === i.AccessKeyId)) return { UserName: user };
      throw awsError('NoSuchEntityException');
    });
    smMock.on(ListSecretVersionIdsCommand).callsFake(() => ({
      Versions: [...this.versions].map(([id, v]) => ({ VersionId: id, CreatedDate: v.created })),
    }));
    smMock.on(DescribeSecretCommand).callsFake(() => ({
      VersionIdsToStages: Object.fromEntries([...this.versions].map(([id, v]) => [id, [...v.stages]])),
    }));
    smMock.on(GetSecretValueCommand).callsFake((i) => {
      const id =
        i.VersionId ?? [...this.versions].find(([, v]) => v.stages.includes(i.VersionStage ?? 'AWSCURRENT'))?.[0];
      const v = id === undefined ? undefined : this.versions.get(id);
      if (!v || v.value === undefined) throw awsError('ResourceNotFoundException');
      if (i.VersionStage && !v.stages.includes(i.VersionStage)) throw awsError('InvalidRequestException');
      return { SecretString: v.value, VersionId: id };
    });
    smMock.on(PutSecretValueCommand).callsFake((i) => {
      if (this.putFailures-- > 0) throw awsError('InternalServiceError', 'the secret store is down');
      const id = i.ClientRequestToken ?? randomUUID();
      const existing = this.versions.get(id);
      if (existing?.value !== undefined) {
        if (existing.value !== i.SecretString) throw awsError('ResourceExistsException');
        return {};
      }
      this.versions.set(id, { value: i.SecretString, stages: existing?.stages ?? [], created: new Date() });
      for (const stage of i.VersionStages ?? ['AWSCURRENT']) this.move(stage, id);
      return {};
    });
    smMock.on(UpdateSecretVersionStageCommand).callsFake((i) => {
      const stage = i.VersionStage ?? '';
      if (i.RemoveFromVersionId) {
        const from = this.versions.get(i.RemoveFromVersionId);
        if (!from?.stages.includes(stage)) throw awsError('InvalidParameterException');
      }
      if (i.MoveToVersionId) this.move(stage, i.MoveToVersionId);
      else if (i.RemoveFromVersionId) this.unlabel(stage);
      return {};
    });
  }

  private unlabel(stage: string): void {
    for (const v of this.versions.values()) v.stages = v.stages.filter((s) => s !== stage);
  }

  /** Attaches a label to one version; AWSCURRENT moving takes AWSPREVIOUS to where it was. */
  private move(stage: string, id: string): void {
    const from = [...this.versions].find(([, v]) => v.stages.includes(stage))?.[0];
    this.unlabel(stage);
    const to = this.versions.get(id) ?? { stages: [] };
    this.versions.set(id, to);
    to.stages.push(stage);
    if (stage === 'AWSCURRENT' && from !== undefined && from !== id) {
      this.unlabel('AWSPREVIOUS');
      this.versions.get(from)?.stages.push('AWSPREVIOUS');
      to.stages = to.stages.filter((s) => s !== 'AWSPREVIOUS');
    }
  }

  keyIds(user = 'smtp-user'): string[] {
    return (this.keys.get(user) ?? []).map((k) => k.id);
  }

  stage(label: string) {
    const v = [...this.versions.values()].find((x) => x.stages.includes(label));
    return v?.value === undefined ? {} : JSON.parse(v.value);
  }

  current() {
    return this.stage('AWSCURRENT');
  }

  secretOf(id: string): string {
    for (const list of this.keys.values()) for (const k of list) if (k.id === id) return k.secret;
    throw new Error(`no key ${id}`);
  }
}

function event(type: 'Create' | 'Update' | 'Delete', props = PROPS, extra: Record<string, unknown> = {}) {
  return {
    RequestType: type,
    RequestId: randomUUID(),
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
      password: SmtpPassword.derive(account.secretOf(id), 'eu-west-1'),
      region: 'eu-west-1',
      endpoint: 'email-smtp.eu-west-1.amazonaws.com',
      port: 587,
      resource: id,
    });
    expect(logged.join('\n')).not.toContain(account.current().password);
    expect(logged.join('\n')).not.toContain(account.secretOf(id));
  });

  test('delivered twice, leaves one key', async () => {
    const create = event('Create');
    const first = await handler(create);
    const second = await handler(create);
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
    expect(account.current().password).toBe(
      SmtpPassword.derive(account.secretOf(r.PhysicalResourceId), 'eu-central-1'),
    );
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
    account.keys.set('smtp-user', [{ id: 'AKIAIOSFODNN7EXAMPLE', secret: 'a' }]);
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

describe('ownership of keys', () => {
  test('a construct-owned user: a key neither the secret nor the resource names is deleted', async () => {
    account.keys.set('smtp-user', [{ id: 'ASIASTRAY00000000001', secret: 'a' }]);
    const { PhysicalResourceId: id } = await handler(event('Create', OWNED));
    expect(account.keyIds()).toEqual([id]);
    expect(logged.join('\n')).toContain('deleted access key ASIASTRAY00000000001 of smtp-user');
  });

  test('a user the construct does not own: keys the secret does not name are never deleted', async () => {
    account.keys.set('smtp-user', [{ id: 'ASIAKEEP000000000001', secret: 'a' }]);
    const { PhysicalResourceId: id } = await handler(event('Create', PROPS));
    await handler(
      event('Update', { ...PROPS, Port: '2587' }, { PhysicalResourceId: id, OldResourceProperties: PROPS }),
    );
    await handler(event('Delete', PROPS, { PhysicalResourceId: id }));
    expect(account.keyIds()).toEqual(['ASIAKEEP000000000001']);
  });

  test('a Delete never removes the key the current version serves for another resource', async () => {
    const first = await handler(event('Create', OWNED));
    const second = await handler(event('Create', OWNED, { LogicalResourceId: 'Moved' }));
    expect(second.PhysicalResourceId).not.toBe(first.PhysicalResourceId);
    await handler(event('Delete', OWNED, { PhysicalResourceId: first.PhysicalResourceId }));
    expect(account.keyIds()).toEqual([second.PhysicalResourceId]);
    expect(account.current().username).toBe(second.PhysicalResourceId);
  });

  test('a key of a user outside the handler scope is left alone, and the log says so', async () => {
    account.keys.set('someone-else', [{ id: 'EXAMPLEOTHERUSERKEY1', secret: 'x' }]);
    iamMock
      .on(GetAccessKeyLastUsedCommand)
      .rejects(awsError('AccessDenied', 'not authorized to perform iam:GetAccessKeyLastUsed'));
    await handler(event('Delete', PROPS, { PhysicalResourceId: 'EXAMPLEOTHERUSERKEY1' }));
    expect(account.keyIds('someone-else')).toEqual(['EXAMPLEOTHERUSERKEY1']);
    expect(iamMock.commandCalls(DeleteAccessKeyCommand)).toHaveLength(0);
    expect(logged.join('\n')).toContain(
      'access key EXAMPLEOTHERUSERKEY1 is not a key of smtp-user, and IAM does not tell this handler whose it is: left alone',
    );
  });

  test('any other error looking up a key owner is reported', async () => {
    iamMock.on(GetAccessKeyLastUsedCommand).rejects(awsError('ServiceFailure', 'IAM is down'));
    await expect(handler(event('Delete', PROPS, { PhysicalResourceId: 'EXAMPLEOTHERUSERKEY1' }))).rejects.toThrow(
      'cannot tell which user access key EXAMPLEOTHERUSERKEY1 belongs to: ServiceFailure: IAM is down',
    );
  });
});

describe('rotation steps', () => {
  const rotationEvent = (Step: string, token: string) =>
    ({ Step, SecretId: SECRET, ClientRequestToken: token }) as Parameters<typeof rotationHandler>[0];

  test('createSecret, setSecret, finishSecret: a new pending key becomes current, the previous stays', async () => {
    const { PhysicalResourceId: first } = await handler(event('Create', OWNED));
    const token = randomUUID();
    await rotationHandler(rotationEvent('createSecret', token));
    const pending = account.stage('AWSPENDING');
    expect(pending).toEqual({
      username: expect.not.stringMatching(first),
      password: SmtpPassword.derive(account.secretOf(pending.username), 'eu-west-1'),
      region: 'eu-west-1',
      endpoint: 'email-smtp.eu-west-1.amazonaws.com',
      port: 587,
      resource: first,
    });
    await rotationHandler(rotationEvent('setSecret', token));
    expect(logged.join('\n')).toContain('setSecret: nothing to set');
    await rotationHandler(rotationEvent('finishSecret', token));
    expect(account.current().username).toBe(pending.username);
    expect(account.stage('AWSPREVIOUS').username).toBe(first);
    expect(account.keyIds()).toEqual([first, pending.username]);
    expect(account.versions.get(token)?.stages).toEqual(['AWSCURRENT']);
    expect(logged.join('\n')).not.toContain(pending.password);
  });

  test('a createSecret whose secret write fails deletes the key it made; the retry makes one', async () => {
    await handler(event('Create', OWNED));
    const token = randomUUID();
    account.putFailures = 1;
    await expect(rotationHandler(rotationEvent('createSecret', token))).rejects.toThrow(
      `cannot store the credentials in ${SECRET}: InternalServiceError: the secret store is down`,
    );
    expect(account.keyIds()).toHaveLength(1);
    await rotationHandler(rotationEvent('createSecret', token));
    await rotationHandler(rotationEvent('createSecret', token));
    expect(account.keyIds()).toHaveLength(2);
  });

  test('a rotation within an hour of the last one keeps the previous key, and says until when', async () => {
    const { PhysicalResourceId: first } = await handler(event('Create', OWNED));
    const token = randomUUID();
    for (const step of ['createSecret', 'finishSecret']) await rotationHandler(rotationEvent(step, token));
    const rotated = new Date(Date.now() - 10 * 60_000);
    (account.versions.get(token) as FakeVersion).created = rotated;
    const keys = account.keyIds();
    await expect(rotationHandler(rotationEvent('createSecret', randomUUID()))).rejects.toThrow(
      `the previous access key ${first} was replaced by version ${token} of ${rotated.toISOString()}; relays may use it until their next refresh, so it stays until ${new Date(rotated.getTime() + 3_600_000).toISOString()}`,
    );
    expect(account.keyIds()).toEqual(keys);
    (account.versions.get(token) as FakeVersion).created = new Date(Date.now() - 61 * 60_000);
    await rotationHandler(rotationEvent('createSecret', randomUUID()));
    expect(account.keyIds()).not.toContain(first);
  });

  test('before the stack has written credentials, createSecret says what to do', async () => {
    await expect(rotationHandler(rotationEvent('createSecret', randomUUID()))).rejects.toThrow(
      `the current version of ${SECRET} holds no SES SMTP credentials yet: deploy the stack`,
    );
  });

  test('a current key deleted by hand stops the rotation, naming it', async () => {
    const { PhysicalResourceId: id } = await handler(event('Create', OWNED));
    account.keys.set('smtp-user', []);
    await expect(rotationHandler(rotationEvent('createSecret', randomUUID()))).rejects.toThrow(
      `the current access key ${id} of ${SECRET} no longer exists in IAM`,
    );
  });

  test('an unknown step is an error', async () => {
    await expect(rotationHandler(rotationEvent('dance', randomUUID()))).rejects.toThrow(
      'unknown rotation step "dance"',
    );
  });
});
