// The custom-resource handler and the rotation function against an AWS API emulator (moto server
// on loopback, from the project-local .venv that .ci/run installs), replaying CloudFormation event
// sequences interleaved with rotations. moto cannot run the rotation Lambda, so the test calls the
// four steps with the events Secrets Manager sends ({Step, SecretId, ClientRequestToken}), each
// step twice (Secrets Manager retries). testSecret authenticates against a local SES model over
// real TLS: it accepts a key IAM (moto) still has, with the password derived from that key's
// secret. After every call the user has at most two keys; at the end of each sequence it has
// exactly keys the secret names, the current one working; and nothing secret was ever logged.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  GetAccessKeyLastUsedCommand,
  IAMClient,
  ListAccessKeysCommand,
} from '@aws-sdk/client-iam';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { SMTPServer } from 'smtp-server';
import type * as rotationModule from '../../lib/handlers/smtp-credentials/rotation';
import type { SmtpCredentialsProperties, StoredCredentials } from '../../lib/handlers/smtp-credentials/types';
import { SmtpPassword } from '../../lib/smtp/smtp-password';
import { makeTestTls } from '../harness/tls';
import { describeMoto, type Moto, startMoto } from '../helpers/moto';

jest.setTimeout(120000);

type Response = { PhysicalResourceId: string; Data?: { AccessKeyId: string; SecretArn: string } };

describeMoto('smtp-credentials handler and rotation against moto', () => {
  let moto: Moto;
  let handler: (e: CloudFormationCustomResourceEvent) => Promise<Response>;
  let rotation: typeof rotationModule;
  let iam: IAMClient;
  let sm: SecretsManagerClient;
  let ses: SMTPServer;
  let sesPort: number;
  let ca: string;
  let sesRejectsAll = false;
  const sesAuths: { user: string; ok: boolean }[] = [];
  const logs: string[] = [];
  /** Every secret access key IAM handed out, by key id. */
  const secretKeys = new Map<string, string>();
  let maxKeys = 0;
  let n = 0;
  const HOST = 'email-smtp.eu-west-1.amazonaws.com';

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
    const send = IAMClient.prototype.send;
    jest.spyOn(IAMClient.prototype, 'send').mockImplementation(async function (this: IAMClient, ...args: unknown[]) {
      const out = await (
        send as (...a: unknown[]) => Promise<{ AccessKey?: { AccessKeyId?: string; SecretAccessKey?: string } }>
      ).apply(this, args);
      if (out?.AccessKey?.SecretAccessKey)
        secretKeys.set(out.AccessKey.AccessKeyId ?? '', out.AccessKey.SecretAccessKey);
      return out;
    });
    for (const stream of ['log', 'error', 'warn', 'info'] as const) {
      jest.spyOn(console, stream).mockImplementation((...a: unknown[]) => {
        logs.push(a.map(String).join(' '));
      });
    }
    // SES as the handler meets it: AUTH succeeds for a key IAM has, with the password derived from
    // its secret for this region; MAIL is never expected.
    const tls = makeTestTls(HOST, 'email-smtp.us-west-1.amazonaws.com');
    ca = tls.ca;
    const { readFileSync } = await import('node:fs');
    ses = new SMTPServer({
      key: readFileSync(tls.keyFile),
      cert: readFileSync(tls.certFile),
      authMethods: ['PLAIN', 'LOGIN'],
      allowInsecureAuth: false,
      logger: false,
      onAuth(auth, _session, callback) {
        const secret = secretKeys.get(auth.username ?? '');
        iam
          .send(new GetAccessKeyLastUsedCommand({ AccessKeyId: auth.username ?? '' }))
          .then(() => true)
          .catch(() => false)
          .then((exists) => {
            const ok =
              !sesRejectsAll &&
              exists &&
              secret !== undefined &&
              ['eu-west-1', 'us-west-1'].some((r) => auth.password === SmtpPassword.derive(secret, r));
            sesAuths.push({ user: auth.username ?? '', ok });
            if (ok) callback(null, { user: auth.username });
            else callback(Object.assign(new Error('Authentication Credentials Invalid'), { responseCode: 535 }));
          });
      },
      onData(_stream, _session, callback) {
        callback(new Error('the rotation must not send mail'));
      },
    });
    await new Promise<void>((resolve) => ses.listen(0, '127.0.0.1', resolve));
    sesPort = ((ses as unknown as { server: { address(): AddressInfo } }).server.address() as AddressInfo).port;
    ({ handler } = await import('../../lib/handlers/smtp-credentials'));
    rotation = await import('../../lib/handlers/smtp-credentials/rotation');
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await new Promise<void>((resolve) => (ses ? ses.close(() => resolve()) : resolve()));
    moto?.stop();
  });

  /** A fresh construct-made user (under the construct's path) and secret, as the stack creates them. */
  async function fixture(overrides: Partial<SmtpCredentialsProperties> = {}): Promise<SmtpCredentialsProperties> {
    const name = `smtp-user-${++n}`;
    await iam.send(new CreateUserCommand({ UserName: name, Path: '/ses-relay/Test/' }));
    const s = await sm.send(
      new CreateSecretCommand({ Name: `smtp-secret-${n}`, SecretString: 'generated-placeholder' }),
    );
    return {
      UserName: name,
      SecretArn: s.ARN ?? '',
      SmtpRegion: 'eu-west-1',
      Endpoint: HOST,
      Port: '587',
      OwnsUserKeys: 'true',
      ...overrides,
    };
  }

  /** A fixture whose user's key count is watched, and the custom resource created for it. */
  async function created() {
    const p = await fixture();
    watched = [p.UserName];
    return { p, a: await cfn('Create', p) };
  }

  async function keys(user: string): Promise<string[]> {
    const out = await iam.send(new ListAccessKeysCommand({ UserName: user }));
    return (out.AccessKeyMetadata ?? []).map((k) => k.AccessKeyId ?? '').sort();
  }

  /** Users whose key count is watched after every call. */
  let watched: string[] = [];
  async function afterEachCall(): Promise<void> {
    for (const u of watched) {
      const count = (await keys(u)).length;
      maxKeys = Math.max(maxKeys, count);
      expect(count).toBeLessThanOrEqual(2);
    }
  }

  async function cfn(
    type: 'Create' | 'Update' | 'Delete',
    props: SmtpCredentialsProperties,
    extra: Record<string, unknown> = {},
  ): Promise<Response> {
    const event = {
      RequestType: type,
      RequestId: randomUUID(),
      LogicalResourceId: 'SmtpResource',
      ResourceProperties: { ServiceToken: 't', ...props },
      ...extra,
    } as unknown as CloudFormationCustomResourceEvent;
    const out = await handler(event);
    await afterEachCall();
    return out;
  }

  async function stage(arn: string, label: string): Promise<StoredCredentials | undefined> {
    try {
      const out = await sm.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: label }));
      return JSON.parse(out.SecretString ?? '');
    } catch {
      return undefined;
    }
  }

  const probe = () => ({ connectTo: '127.0.0.1', connectPort: sesPort, ca, firstDelayMs: 100 });

  /** One rotation step as Secrets Manager calls it, delivered twice. */
  async function step(name: 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret', arn: string, token: string) {
    for (let i = 0; i < 2; i++) {
      if (name === 'testSecret') await rotation.testSecret(arn, token, { ...probe(), deadline: Date.now() + 3000 });
      // moto dates every version "now": the hour the previous key is kept is tested in the unit tests.
      else if (name === 'createSecret') await rotation.createSecret(arn, token, { previousKeyMinLifetimeMs: 0 });
      else await rotation[name](arn, token);
      await afterEachCall();
    }
  }

  async function rotate(arn: string): Promise<string> {
    const token = randomUUID();
    for (const s of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) await step(s, arn, token);
    return token;
  }

  /** The end state: the user holds only keys the secret names, and the current one works. */
  async function expectConverged(props: SmtpCredentialsProperties) {
    const current = await stage(props.SecretArn, 'AWSCURRENT');
    const previous = await stage(props.SecretArn, 'AWSPREVIOUS');
    const held = await keys(props.UserName);
    expect(current).toBeDefined();
    expect(held).toContain(current?.username);
    expect(held.every((k) => k === current?.username || k === previous?.username)).toBe(true);
    expect(current?.password).toBe(
      SmtpPassword.derive(secretKeys.get(current?.username ?? '') ?? '', props.SmtpRegion),
    );
    expect(current).toMatchObject({ region: props.SmtpRegion, endpoint: props.Endpoint, port: Number(props.Port) });
    const pendingLabels = Object.values(
      (await sm.send(new DescribeSecretCommand({ SecretId: props.SecretArn }))).VersionIdsToStages ?? {},
    ).filter((s) => s.includes('AWSPENDING') && !s.includes('AWSCURRENT'));
    expect(pendingLabels).toEqual([]);
    return { current: current as StoredCredentials, previous, held };
  }

  beforeEach(() => {
    watched = [];
  });

  test('create, then two rotations (each step delivered twice): the previous key stays valid until the next rotation', async () => {
    const { p, a } = await created();
    expect(await keys(p.UserName)).toEqual([a.PhysicalResourceId]);
    expect(a.Data?.AccessKeyId).toBe(a.PhysicalResourceId);

    await rotate(p.SecretArn);
    const first = await expectConverged(p);
    expect(first.current.username).not.toBe(a.PhysicalResourceId);
    expect(first.previous?.username).toBe(a.PhysicalResourceId);
    expect(first.held).toEqual([a.PhysicalResourceId, first.current.username].sort()); // old key still valid

    await rotate(p.SecretArn);
    const second = await expectConverged(p);
    expect(second.previous?.username).toBe(first.current.username);
    expect(second.held).toEqual([first.current.username, second.current.username].sort());
    expect(await keys(p.UserName)).not.toContain(a.PhysicalResourceId);
    // The rotation keeps what the stack set, and the resource it serves.
    expect(second.current).toMatchObject({ endpoint: HOST, port: 587, resource: a.PhysicalResourceId });
  });

  test('rotating again right after a rotation keeps the previous key (relays may not have refreshed)', async () => {
    const { p, a } = await created();
    await rotate(p.SecretArn);
    await expect(rotation.createSecret(p.SecretArn, randomUUID())).rejects.toThrow(
      new RegExp(`^the previous access key ${a.PhysicalResourceId} was replaced by version .* so it stays until `),
    );
    expect(await keys(p.UserName)).toContain(a.PhysicalResourceId);
    await expectConverged(p);
  });

  test('a rotation whose createSecret was killed after CreateAccessKey: the retry deletes the stray key, no third key', async () => {
    const { p, a } = await created();
    await rotate(p.SecretArn); // now: current + previous = two keys
    const before = await stage(p.SecretArn, 'AWSCURRENT');
    const previous = await stage(p.SecretArn, 'AWSPREVIOUS');
    // What a createSecret killed after CreateAccessKey leaves: the previous key deleted, a new key
    // that no version names.
    await iam.send(new DeleteAccessKeyCommand({ UserName: p.UserName, AccessKeyId: previous?.username ?? '' }));
    const stray = (await iam.send(new CreateAccessKeyCommand({ UserName: p.UserName }))).AccessKey?.AccessKeyId;
    expect(await keys(p.UserName)).toHaveLength(2);
    const token = randomUUID();
    for (const s of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const)
      await step(s, p.SecretArn, token);
    const held = await keys(p.UserName);
    expect(held).not.toContain(stray);
    expect(held).toContain(before?.username);
    await expectConverged(p);
    expect(await keys(p.UserName)).not.toContain(a.PhysicalResourceId);
  });

  test('a key orphaned between CreateAccessKey and PutSecretValue is reconciled away by the next invocation', async () => {
    const { p, a } = await created();
    const stray = (await iam.send(new CreateAccessKeyCommand({ UserName: p.UserName }))).AccessKey?.AccessKeyId;
    // An update needing a new key used to fail on "already has 2 access keys".
    const q = { ...p, SmtpRegion: 'us-west-1', Endpoint: 'email-smtp.us-west-1.amazonaws.com' };
    const b = await cfn('Update', q, { PhysicalResourceId: a.PhysicalResourceId, OldResourceProperties: p });
    expect(await keys(p.UserName)).not.toContain(stray);
    expect(await keys(p.UserName)).toEqual([a.PhysicalResourceId, b.PhysicalResourceId].sort());
    // And the rotation's createSecret removes a stray too.
    await cfn('Delete', p, { PhysicalResourceId: a.PhysicalResourceId });
    const stray2 = (await iam.send(new CreateAccessKeyCommand({ UserName: p.UserName }))).AccessKey?.AccessKeyId;
    await rotate(q.SecretArn);
    expect(await keys(p.UserName)).not.toContain(stray2);
    await expectConverged(q);
  });

  test('update (new region) with a rotation in between, then the cleanup Delete', async () => {
    const { p, a } = await created();
    await rotate(p.SecretArn);
    const q = { ...p, SmtpRegion: 'us-west-1', Endpoint: 'email-smtp.us-west-1.amazonaws.com' };
    const b = await cfn('Update', q, { PhysicalResourceId: a.PhysicalResourceId, OldResourceProperties: p });
    expect(b.PhysicalResourceId).not.toBe(a.PhysicalResourceId);
    // A rotation while CloudFormation has not cleaned up yet.
    const token = randomUUID();
    await step('createSecret', q.SecretArn, token);
    await cfn('Delete', p, { PhysicalResourceId: a.PhysicalResourceId });
    await step('setSecret', q.SecretArn, token);
    await step('testSecret', q.SecretArn, token);
    await step('finishSecret', q.SecretArn, token);
    const end = await expectConverged(q);
    expect(end.current.resource).toBe(b.PhysicalResourceId);
    expect(end.previous?.username).toBe(b.Data?.AccessKeyId);
  });

  test('an update during a rotation wins: the rotation is cancelled, its key deleted, its finish refused', async () => {
    const { p, a } = await created();
    const token = randomUUID();
    await step('createSecret', p.SecretArn, token);
    const pendingKey = (await stage(p.SecretArn, 'AWSPENDING'))?.username;
    const q = { ...p, Port: '2587' };
    const b = await cfn('Update', q, { PhysicalResourceId: a.PhysicalResourceId, OldResourceProperties: p });
    expect(b.PhysicalResourceId).toBe(a.PhysicalResourceId); // a port change keeps the key
    expect(await keys(p.UserName)).toEqual([a.PhysicalResourceId]);
    expect(await keys(p.UserName)).not.toContain(pendingKey);
    await expect(rotation.testSecret(p.SecretArn, token, probe())).rejects.toThrow(/is not AWSPENDING/);
    await expect(rotation.finishSecret(p.SecretArn, token)).rejects.toThrow(/no longer AWSPENDING/);
    const end = await expectConverged(q);
    expect(end.current.username).toBe(a.PhysicalResourceId);
    // The next rotation starts afresh and keeps the new port.
    await rotate(q.SecretArn);
    expect((await expectConverged(q)).current.port).toBe(2587);
  });

  test('a rollback after a rotation: the old region comes back without a third key, and cleanup keeps it', async () => {
    const { p, a } = await created();
    const q = { ...p, SmtpRegion: 'us-west-1', Endpoint: 'email-smtp.us-west-1.amazonaws.com' };
    const b = await cfn('Update', q, { PhysicalResourceId: a.PhysicalResourceId, OldResourceProperties: p });
    // A rotation happens (its createSecret deletes the old key, previous now), then the stack rolls back.
    const token = randomUUID();
    await step('createSecret', q.SecretArn, token);
    const back = await cfn('Update', p, { PhysicalResourceId: b.PhysicalResourceId, OldResourceProperties: q });
    await cfn('Delete', q, { PhysicalResourceId: b.PhysicalResourceId });
    await expect(rotation.finishSecret(p.SecretArn, token)).rejects.toThrow(/no longer AWSPENDING/);
    const end = await expectConverged(p);
    expect(end.current.username).toBe(back.Data?.AccessKeyId);
    expect(end.held).toEqual([back.Data?.AccessKeyId]);
  });

  test('a rollback after a completed rotation: a new key for the old region, and cleanup leaves only it', async () => {
    const { p, a } = await created();
    const q = { ...p, SmtpRegion: 'us-west-1', Endpoint: 'email-smtp.us-west-1.amazonaws.com' };
    const b = await cfn('Update', q, { PhysicalResourceId: a.PhysicalResourceId, OldResourceProperties: p });
    await rotate(q.SecretArn);
    const back = await cfn('Update', p, { PhysicalResourceId: b.PhysicalResourceId, OldResourceProperties: q });
    expect(back.PhysicalResourceId).toBe(back.Data?.AccessKeyId);
    await cfn('Delete', q, { PhysicalResourceId: b.PhysicalResourceId });
    const end = await expectConverged(p);
    expect(end.held).toEqual([back.PhysicalResourceId]);
  });

  test('an Update delivered again after a rotation changes nothing', async () => {
    const { p, a } = await created();
    const update = {
      RequestType: 'Update',
      RequestId: randomUUID(),
      PhysicalResourceId: a.PhysicalResourceId,
      ResourceProperties: { ServiceToken: 't', ...p, Port: '2587' },
      OldResourceProperties: p,
    } as unknown as CloudFormationCustomResourceEvent;
    const first = await handler(update);
    await rotate(p.SecretArn);
    const rotated = await stage(p.SecretArn, 'AWSCURRENT');
    const held = await keys(p.UserName);
    expect(await handler(update)).toEqual(first);
    expect(await stage(p.SecretArn, 'AWSCURRENT')).toEqual(rotated);
    expect(await keys(p.UserName)).toEqual(held);
  });

  test('a rollback without a rotation gets the old key back from AWSPREVIOUS', async () => {
    const { p, a } = await created();
    await rotate(p.SecretArn);
    const before = await stage(p.SecretArn, 'AWSCURRENT');
    const q = { ...p, SmtpRegion: 'us-west-1' };
    const b = await cfn('Update', q, { PhysicalResourceId: a.PhysicalResourceId, OldResourceProperties: p });
    const back = await cfn('Update', p, { PhysicalResourceId: b.PhysicalResourceId, OldResourceProperties: q });
    expect(back).toEqual({
      PhysicalResourceId: a.PhysicalResourceId,
      Data: { SecretArn: p.SecretArn, AccessKeyId: before?.username },
    });
    await cfn('Delete', q, { PhysicalResourceId: b.PhysicalResourceId });
    const end = await expectConverged(p);
    expect(end.current).toMatchObject({ username: before?.username, password: before?.password });
  });

  test('delete after rotations removes every key, so the user can be deleted; a second Delete is harmless', async () => {
    const { p, a } = await created();
    await rotate(p.SecretArn);
    await rotate(p.SecretArn);
    const token = randomUUID();
    await step('createSecret', p.SecretArn, token); // one more in progress when the stack goes
    await cfn('Delete', p, { PhysicalResourceId: a.PhysicalResourceId });
    expect(await keys(p.UserName)).toEqual([]);
    await cfn('Delete', p, { PhysicalResourceId: a.PhysicalResourceId });
    await expect(rotation.finishSecret(p.SecretArn, token)).rejects.toThrow(/no longer AWSPENDING/);
    await expect(iam.send(new DeleteUserCommand({ UserName: p.UserName }))).resolves.toBeDefined();
  });

  test('duplicate deliveries of Create, Update and Delete change nothing the second time', async () => {
    const p = await fixture();
    watched = [p.UserName];
    const create = {
      RequestType: 'Create',
      RequestId: randomUUID(),
      ResourceProperties: { ServiceToken: 't', ...p },
    } as unknown as CloudFormationCustomResourceEvent;
    const a = await handler(create);
    expect(await handler(create)).toEqual(a);
    expect(await keys(p.UserName)).toEqual([a.PhysicalResourceId]);
    const q = { ...p, SmtpRegion: 'us-west-1' };
    const update = {
      RequestType: 'Update',
      RequestId: randomUUID(),
      PhysicalResourceId: a.PhysicalResourceId,
      ResourceProperties: { ServiceToken: 't', ...q },
      OldResourceProperties: p,
    } as unknown as CloudFormationCustomResourceEvent;
    const b = await handler(update);
    expect(await handler(update)).toEqual(b);
    expect(await keys(p.UserName)).toEqual([a.PhysicalResourceId, b.PhysicalResourceId].sort());
    await cfn('Delete', p, { PhysicalResourceId: a.PhysicalResourceId });
    await cfn('Delete', p, { PhysicalResourceId: a.PhysicalResourceId });
    expect(await keys(p.UserName)).toEqual([b.PhysicalResourceId]);
    await rotate(q.SecretArn);
    await expectConverged(q);
  });

  test('a key that never authenticates fails testSecret; the current key stays, and the next rotation cleans up', async () => {
    const { p, a } = await created();
    const token = randomUUID();
    await step('createSecret', p.SecretArn, token);
    sesRejectsAll = true;
    try {
      await expect(
        rotation.testSecret(p.SecretArn, token, { ...probe(), deadline: Date.now() + 1500 }),
      ).rejects.toThrow(/failed after \d+ attempt\(s\): AUTH PLAIN: the server answered 535/);
    } finally {
      sesRejectsAll = false;
    }
    // Secrets Manager stops: no finishSecret. The current key is untouched.
    expect((await stage(p.SecretArn, 'AWSCURRENT'))?.username).toBe(a.PhysicalResourceId);
    await rotate(p.SecretArn);
    const end = await expectConverged(p);
    expect(end.held).toHaveLength(2);
    expect(end.previous?.username).toBe(a.PhysicalResourceId);
  });

  test('a user swap: the old user loses its keys (so it can be deleted), after rotations too', async () => {
    const { p, a } = await created();
    await rotate(p.SecretArn);
    const other = `smtp-user-${++n}`;
    await iam.send(new CreateUserCommand({ UserName: other, Path: '/ses-relay/Test/' }));
    watched.push(other);
    const q = { ...p, UserName: other };
    const b = await cfn('Update', q, { PhysicalResourceId: a.PhysicalResourceId, OldResourceProperties: p });
    expect(await keys(other)).toEqual([b.PhysicalResourceId]);
    await cfn('Delete', p, { PhysicalResourceId: a.PhysicalResourceId });
    expect(await keys(p.UserName)).toEqual([]);
    await expect(iam.send(new DeleteUserCommand({ UserName: p.UserName }))).resolves.toBeDefined();
    watched = [other];
    await rotate(q.SecretArn);
    await expectConverged(q);
  });

  test('a Delete naming the wrong user still deletes its key (looked up by id), not taking NoSuchEntity for success', async () => {
    const { p, a } = await created();
    const q = await fixture();
    await cfn('Delete', { ...q, SecretArn: p.SecretArn }, { PhysicalResourceId: a.PhysicalResourceId });
    expect(await keys(p.UserName)).toEqual([]);
  });

  test('a second resource on the same secret gets its own key; the old resource Delete keeps the one in use', async () => {
    const { p, a: r1 } = await created();
    await rotate(p.SecretArn);
    const r2 = await cfn('Create', p, { LogicalResourceId: 'SmtpResourceMoved' });
    expect(r2.PhysicalResourceId).not.toBe(r1.PhysicalResourceId);
    expect(r2.Data?.AccessKeyId).toBe(r2.PhysicalResourceId);
    await cfn('Delete', p, { PhysicalResourceId: r1.PhysicalResourceId });
    const end = await expectConverged(p);
    expect(end.current.username).toBe(r2.PhysicalResourceId);
    await rotate(p.SecretArn);
    await expectConverged(p);
  });

  test('a second resource rolled back: the first one gets its key back as current', async () => {
    const { p, a: r1 } = await created();
    const r2 = await cfn('Create', p, { LogicalResourceId: 'SmtpResourceMoved' });
    await cfn('Delete', p, { PhysicalResourceId: r2.PhysicalResourceId });
    const end = await expectConverged(p);
    expect(end.current.username).toBe(r1.PhysicalResourceId);
    expect(end.held).toEqual([r1.PhysicalResourceId]);
  });

  test('nothing secret was logged across all sequences, and no sequence ever needed a third key', () => {
    expect(secretKeys.size).toBeGreaterThanOrEqual(20);
    expect(maxKeys).toBe(2);
    expect(logs.length).toBeGreaterThan(0);
    const text = logs.join('\n');
    for (const key of secretKeys.values()) {
      expect(text).not.toContain(key);
      for (const region of ['eu-west-1', 'us-west-1']) expect(text).not.toContain(SmtpPassword.derive(key, region));
    }
    expect(sesAuths.some((a) => a.ok)).toBe(true);
  });
});
