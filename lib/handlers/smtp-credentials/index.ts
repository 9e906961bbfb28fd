// Custom-resource handler (behind the custom-resources Provider) that owns one IAM access key for
// SES SMTP. Physical id = access key id. The secret access key is turned into the SMTP password
// here and goes straight into Secrets Manager: never into the response, an error or a log line.
import { CreateAccessKeyCommand, DeleteAccessKeyCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { deriveSmtpPassword } from '../../smtp/password';
import type { SmtpCredentialsData, SmtpCredentialsProperties, StoredCredentials } from './types';

const iam = new IAMClient({});
const secrets = new SecretsManagerClient({});

/** IAM allows two access keys per user. */
const MAX_KEYS = 2;

export interface HandlerResponse {
  readonly PhysicalResourceId: string;
  readonly Data: SmtpCredentialsData;
}

/** Logs one line of non-secret facts. */
function log(message: string): void {
  console.log(`ses-relay credentials: ${message}`);
}

/** An error that carries only its name and message, so nothing else of an SDK error leaks. */
function failure(what: string, err: unknown): Error {
  const e = err as { name?: string; message?: string };
  return new Error(`${what}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`);
}

function errorName(err: unknown): string | undefined {
  return (err as { name?: string }).name;
}

async function userKeys(userName: string): Promise<string[]> {
  const out = await iam.send(new ListAccessKeysCommand({ UserName: userName }));
  return (out.AccessKeyMetadata ?? []).map((k) => k.AccessKeyId ?? '').filter((id) => id !== '');
}

/** The credentials held by one version stage of the secret, or undefined (none, or not ours). */
async function readStage(
  secretArn: string,
  stage: 'AWSCURRENT' | 'AWSPREVIOUS',
): Promise<StoredCredentials | undefined> {
  try {
    const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn, VersionStage: stage }));
    const value = JSON.parse(out.SecretString ?? '') as Partial<StoredCredentials>;
    if (typeof value.username === 'string' && typeof value.password === 'string' && typeof value.region === 'string') {
      return value as StoredCredentials;
    }
  } catch (err) {
    if (errorName(err) !== 'ResourceNotFoundException' && !(err instanceof SyntaxError)) {
      throw failure(`cannot read ${secretArn}`, err);
    }
  }
  return undefined;
}

async function writeSecret(props: SmtpCredentialsProperties, username: string, password: string): Promise<void> {
  const value: StoredCredentials = {
    username,
    password,
    region: props.SmtpRegion,
    endpoint: props.Endpoint,
    port: Number(props.Port),
  };
  await secrets.send(new PutSecretValueCommand({ SecretId: props.SecretArn, SecretString: JSON.stringify(value) }));
}

function response(props: SmtpCredentialsProperties, accessKeyId: string): HandlerResponse {
  return { PhysicalResourceId: accessKeyId, Data: { SecretArn: props.SecretArn, AccessKeyId: accessKeyId } };
}

/**
 * Credentials already in the secret that serve these properties: a key of this user, derived for
 * this region, that IAM still has. The current version covers a Create delivered twice and an
 * update that changes only the endpoint or port; the previous version covers the rollback of an
 * update, which gets the old, still working key back instead of a third key.
 */
async function reusable(props: SmtpCredentialsProperties): Promise<string | undefined> {
  const keys = await userKeys(props.UserName);
  for (const stage of ['AWSCURRENT', 'AWSPREVIOUS'] as const) {
    const stored = await readStage(props.SecretArn, stage);
    if (!stored || stored.region !== props.SmtpRegion || !keys.includes(stored.username)) continue;
    if (stage === 'AWSPREVIOUS' || stored.endpoint !== props.Endpoint || stored.port !== Number(props.Port)) {
      await writeSecret(props, stored.username, stored.password);
    }
    log(`reusing access key ${stored.username} found in the secret (${stage})`);
    return stored.username;
  }
  return undefined;
}

/** Creates a key, stores its SMTP password; deletes the key again if anything after it fails. */
async function createKey(props: SmtpCredentialsProperties): Promise<string> {
  const existing = await userKeys(props.UserName);
  if (existing.length >= MAX_KEYS) {
    throw new Error(
      `IAM user ${props.UserName} already has ${existing.length} access keys (${existing.join(', ')}); IAM allows ${MAX_KEYS}. Delete the one not in use and retry`,
    );
  }
  const created = await iam.send(new CreateAccessKeyCommand({ UserName: props.UserName }));
  const accessKeyId = created.AccessKey?.AccessKeyId;
  const secretAccessKey = created.AccessKey?.SecretAccessKey;
  if (!accessKeyId || !secretAccessKey) throw new Error('IAM returned no access key');
  log(`created access key ${accessKeyId} for ${props.UserName}`);
  try {
    await writeSecret(props, accessKeyId, deriveSmtpPassword(secretAccessKey, props.SmtpRegion));
  } catch (err) {
    // No Delete will follow a failed Create: remove the key it made.
    await deleteKey(props.UserName, accessKeyId);
    throw failure(`cannot store the credentials in ${props.SecretArn}`, err);
  }
  return accessKeyId;
}

async function deleteKey(userName: string, accessKeyId: string): Promise<void> {
  try {
    await iam.send(new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId }));
    log(`deleted access key ${accessKeyId} of ${userName}`);
  } catch (err) {
    if (errorName(err) === 'NoSuchEntityException') {
      log(`access key ${accessKeyId} of ${userName} was already gone`);
      return;
    }
    throw failure(`cannot delete access key ${accessKeyId} of ${userName}`, err);
  }
}

export async function onCreate(props: SmtpCredentialsProperties): Promise<HandlerResponse> {
  const accessKeyId = (await reusable(props)) ?? (await createKey(props));
  return response(props, accessKeyId);
}

/**
 * Update is Create: credentials in the secret that still serve the new properties are kept (a port
 * or endpoint change keeps the key; a rolled-back update gets the old key back from AWSPREVIOUS);
 * a new user, region or secret gets a new key first, and CloudFormation's cleanup Delete removes
 * the old one once the whole update has succeeded.
 */
export const onUpdate = onCreate;

/** Deletes exactly the key named by the physical id, of the user in the properties it was made with. */
export async function onDelete(physicalId: string, props: SmtpCredentialsProperties): Promise<void> {
  // A Create that failed before returning an id leaves CloudFormation's placeholder, not a key.
  if (!/^[A-Z0-9]{16,128}$/.test(physicalId)) {
    log(`nothing to delete for ${physicalId}`);
    return;
  }
  await deleteKey(props.UserName, physicalId);
}

export async function handler(
  event: CloudFormationCustomResourceEvent,
): Promise<HandlerResponse | { PhysicalResourceId: string }> {
  const props = event.ResourceProperties as unknown as SmtpCredentialsProperties;
  log(`${event.RequestType} for ${props.UserName} in ${props.SmtpRegion}`);
  switch (event.RequestType) {
    case 'Create':
      return onCreate(props);
    case 'Update':
      return onUpdate(props);
    case 'Delete':
      await onDelete(event.PhysicalResourceId, props);
      return { PhysicalResourceId: event.PhysicalResourceId };
  }
}
