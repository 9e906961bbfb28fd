// What the custom resource and the rotation function share: the IAM access keys of a user, the
// versions of the secret that name them (AWSCURRENT, AWSPREVIOUS, AWSPENDING), and the few moves
// both make on them. IAM allows two keys per user; every move here keeps to that.
// Logs and errors carry key ids, user names and version ids only: never a secret key or password.
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
import { errorName, isGone } from '../../private/aws-errors';
import { SmtpPassword } from '../../smtp/smtp-password';
import type { StoredCredentials } from './types';

export const iam = new IAMClient({});
export const secrets = new SecretsManagerClient({});

/** IAM allows two access keys per user. */
export const MAX_KEYS = 2;
export const CURRENT = 'AWSCURRENT';
export const PREVIOUS = 'AWSPREVIOUS';
export const PENDING = 'AWSPENDING';
/**
 * The label a version written by the custom resource carries until it becomes AWSCURRENT. Writing
 * with a label of our own and then moving AWSCURRENT with UpdateSecretVersionStage (instead of
 * PutSecretValue's implicit AWSCURRENT) leaves a trace if the invocation dies in between: the
 * retried event finds its version by id and finishes the move.
 */
export const WRITING = 'ses-relay-writing';

/** A well-formed IAM access key id (a placeholder physical id of a failed Create is not one). */
export const ACCESS_KEY_ID = /^[A-Z0-9]{16,128}$/;

/** Logs one line of non-secret facts. */
export function log(message: string): void {
  console.log(`ses-relay credentials: ${message}`);
}

/** An error that carries only its name and message, so nothing else of an SDK error leaks. */
export function failure(what: string, err: unknown): Error {
  const e = err as { name?: string; message?: string };
  return new Error(`${what}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`);
}

export interface Version {
  readonly id: string;
  readonly stages: string[];
  /** Our credentials, or undefined (a placeholder, a version not written yet, or not ours). */
  readonly value?: StoredCredentials;
}

/** The versions of the secret that matter, each read once. */
export interface SecretState {
  readonly arn: string;
  readonly current?: Version;
  readonly previous?: Version;
  /** The AWSPENDING version, when it is not also AWSCURRENT: a rotation in progress. */
  readonly pending?: Version;
  /** Versions a custom-resource invocation wrote but did not finish promoting. */
  readonly writing: Version[];
  /** Every version id with its labels. */
  readonly stages: Record<string, string[]>;
}

/** The physical id of the resource whose key a version holds. */
export function resourceOf(value: StoredCredentials): string {
  return value.resource ?? value.username;
}

function parse(text: string | undefined): StoredCredentials | undefined {
  try {
    const value = JSON.parse(text ?? '') as Partial<StoredCredentials>;
    if (typeof value.username === 'string' && typeof value.password === 'string' && typeof value.region === 'string') {
      return value as StoredCredentials;
    }
  } catch {
    // A placeholder (CloudFormation's generated string) is not ours.
  }
  return undefined;
}

/** The credentials of one version, or undefined when it holds none of ours (or no value yet). */
export async function readVersion(
  secretArn: string,
  versionId: string,
  stage?: string,
): Promise<StoredCredentials | undefined> {
  try {
    const out = await secrets.send(
      new GetSecretValueCommand({ SecretId: secretArn, VersionId: versionId, VersionStage: stage }),
    );
    return parse(out.SecretString);
  } catch (err) {
    // No such version, or (with a stage) the version no longer carries that stage.
    if (errorName(err) === 'ResourceNotFoundException') return undefined;
    if (stage && errorName(err) === 'InvalidRequestException') return undefined;
    throw failure(`cannot read version ${versionId} of ${secretArn}`, err);
  }
}

export async function readState(secretArn: string): Promise<SecretState> {
  let stages: Record<string, string[]>;
  try {
    const out = await secrets.send(new DescribeSecretCommand({ SecretId: secretArn }));
    stages = out.VersionIdsToStages ?? {};
  } catch (err) {
    if (errorName(err) !== 'ResourceNotFoundException') throw failure(`cannot describe ${secretArn}`, err);
    stages = {};
  }
  const read = async (id: string): Promise<Version> => ({
    id,
    stages: stages[id],
    value: await readVersion(secretArn, id),
  });
  const find = (label: string) => Object.keys(stages).find((id) => stages[id].includes(label));
  const currentId = find(CURRENT);
  const previousId = find(PREVIOUS);
  const pendingId = find(PENDING);
  const writingIds = Object.keys(stages).filter((id) => stages[id].includes(WRITING) && id !== currentId);
  return {
    arn: secretArn,
    current: currentId ? await read(currentId) : undefined,
    previous: previousId && previousId !== currentId ? await read(previousId) : undefined,
    pending: pendingId && pendingId !== currentId ? await read(pendingId) : undefined,
    writing: await Promise.all(writingIds.map(read)),
    stages,
  };
}

/** When a version was made (for the current version: at most minutes before it became current). */
export async function versionCreated(secretArn: string, versionId: string): Promise<Date | undefined> {
  let token: string | undefined;
  do {
    const out = await secrets.send(new ListSecretVersionIdsCommand({ SecretId: secretArn, NextToken: token }));
    const found = out.Versions?.find((v) => v.VersionId === versionId);
    if (found) return found.CreatedDate;
    token = out.NextToken;
  } while (token);
  return undefined;
}

/** Key ids the secret names, in any version that matters. */
export function namedKeys(state: SecretState): Set<string> {
  const named = new Set<string>();
  for (const v of [state.current, state.previous, state.pending, ...state.writing]) {
    if (v?.value) named.add(v.value.username);
  }
  return named;
}

/** The access key ids of a user ([] when the user is gone: its keys went with it). */
export async function keyIds(userName: string): Promise<string[]> {
  try {
    const out = await iam.send(new ListAccessKeysCommand({ UserName: userName }));
    return (out.AccessKeyMetadata ?? []).map((k) => k.AccessKeyId ?? '').filter((id) => id !== '');
  } catch (err) {
    if (isGone(err)) return [];
    throw failure(`cannot list the access keys of ${userName}`, err);
  }
}

/** The user an access key belongs to, or undefined when IAM has no such key. */
export async function ownerOf(accessKeyId: string): Promise<string | undefined> {
  try {
    const out = await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: accessKeyId }));
    return out.UserName;
  } catch (err) {
    if (isGone(err)) return undefined;
    throw Object.assign(failure(`cannot tell which user access key ${accessKeyId} belongs to`, err), {
      name: errorName(err),
    });
  }
}

/**
 * Deletes a key. The user is a hint (the one in the event's properties); a key IAM does not find
 * there is looked up by id, so a key that moved with a user swap or tree change is still deleted
 * instead of a NoSuchEntity being taken for success.
 */
export async function deleteKey(hintUser: string, accessKeyId: string, why: string): Promise<void> {
  let user = hintUser;
  if (!(await keyIds(user)).includes(accessKeyId)) {
    let owner: string | undefined;
    try {
      owner = await ownerOf(accessKeyId);
    } catch (err) {
      // Gone, or a key of a user outside the handlers' scope: either way not ours to delete, and
      // failing would leave CloudFormation stuck on a key it cannot change.
      if (errorName(err) !== 'AccessDenied' && errorName(err) !== 'AccessDeniedException') throw err;
      log(
        `access key ${accessKeyId} is not a key of ${hintUser}, and IAM does not tell this handler whose it is: left alone`,
      );
      return;
    }
    if (owner === undefined) {
      log(`access key ${accessKeyId} was already gone`);
      return;
    }
    user = owner;
  }
  try {
    await iam.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: accessKeyId }));
    log(`deleted access key ${accessKeyId} of ${user} (${why})`);
  } catch (err) {
    if (isGone(err)) {
      log(`access key ${accessKeyId} of ${user} was already gone`);
      return;
    }
    throw failure(`cannot delete access key ${accessKeyId} of ${user}`, err);
  }
}

/** A new key for the user and the credentials it makes for a region (the caller stores them). */
export async function createKey(
  userName: string,
  template: Omit<StoredCredentials, 'username' | 'password'>,
): Promise<StoredCredentials> {
  const created = await iam.send(new CreateAccessKeyCommand({ UserName: userName }));
  const accessKeyId = created.AccessKey?.AccessKeyId;
  const secretAccessKey = created.AccessKey?.SecretAccessKey;
  if (!accessKeyId || !secretAccessKey) throw new Error('IAM returned no access key');
  log(`created access key ${accessKeyId} for ${userName}`);
  return {
    username: accessKeyId,
    password: SmtpPassword.derive(secretAccessKey, template.region),
    region: template.region,
    endpoint: template.endpoint,
    port: template.port,
    resource: template.resource ?? accessKeyId,
  };
}

/** Stores a version under a label; a failure deletes the key it names when `ownKey` (no one else has it). */
export async function putVersion(
  secretArn: string,
  versionId: string,
  value: StoredCredentials,
  stage: string,
  userName: string,
  ownKey: boolean,
): Promise<void> {
  try {
    await secrets.send(
      new PutSecretValueCommand({
        SecretId: secretArn,
        ClientRequestToken: versionId,
        SecretString: JSON.stringify(value),
        VersionStages: [stage],
      }),
    );
  } catch (err) {
    if (ownKey) await deleteKey(userName, value.username, 'its credentials could not be stored');
    throw failure(`cannot store the credentials in ${secretArn}`, err);
  }
}

/** Moves a label to a version (AWSCURRENT moves AWSPREVIOUS along, as Secrets Manager does). */
export async function moveStage(state: SecretState, stage: string, versionId: string): Promise<void> {
  const from = Object.keys(state.stages).find((id) => state.stages[id].includes(stage));
  if (from === versionId) return;
  await secrets.send(
    new UpdateSecretVersionStageCommand({
      SecretId: state.arn,
      VersionStage: stage,
      MoveToVersionId: versionId,
      RemoveFromVersionId: from,
    }),
  );
}

export async function removeStage(secretArn: string, stage: string, versionId: string): Promise<void> {
  await secrets.send(
    new UpdateSecretVersionStageCommand({ SecretId: secretArn, VersionStage: stage, RemoveFromVersionId: versionId }),
  );
}

/** Makes a version AWSCURRENT and drops our in-flight label from it. */
export async function promote(state: SecretState, versionId: string): Promise<void> {
  await moveStage(state, CURRENT, versionId);
  if (state.stages[versionId]?.includes(WRITING)) await removeStage(state.arn, WRITING, versionId);
}

/**
 * Ends a rotation in progress: AWSPENDING leaves its version (so testSecret and finishSecret of
 * that rotation fail instead of promoting a key that is gone) and its key is deleted.
 */
export async function cancelPending(state: SecretState, userName: string, why: string): Promise<boolean> {
  const pending = state.pending;
  if (!pending) return false;
  await removeStage(state.arn, PENDING, pending.id);
  log(`cancelled the rotation in progress (version ${pending.id}): ${why}`);
  const key = pending.value?.username;
  const kept = [state.current, state.previous].map((v) => v?.value?.username);
  if (key && !kept.includes(key)) await deleteKey(userName, key, 'its rotation was cancelled');
  return true;
}
