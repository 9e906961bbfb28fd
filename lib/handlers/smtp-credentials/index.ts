// Custom-resource handler (behind the custom-resources Provider) that owns the IAM access key of
// SES SMTP credentials, and the entry of the Secrets Manager rotation function (rotation.ts), both
// in one bundle. Physical id = the access key this resource made; Data.AccessKeyId = the key the
// secret's current version holds (a rotation changes it, not the physical id).
// The secret access key is turned into the SMTP password here and goes straight into Secrets
// Manager: never into the response, an error or a log line.
//
// Every invocation converges on: at most two keys per user (IAM's limit, never hit), the secret's
// AWSCURRENT naming a working key, and no key of a construct-owned user that neither a version
// of the secret nor the physical id names.
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import {
  ACCESS_KEY_ID,
  cancelPending,
  createKey,
  deleteKey,
  keyIds,
  log,
  MAX_KEYS,
  namedKeys,
  promote,
  putVersion,
  readState,
  readVersion,
  resourceOf,
  type SecretState,
  type Version,
  WRITING,
} from './state';
import type { SmtpCredentialsData, SmtpCredentialsProperties, StoredCredentials } from './types';

export { rotationHandler } from './rotation';

export interface HandlerResponse {
  readonly PhysicalResourceId: string;
  readonly Data: SmtpCredentialsData;
}

function response(props: SmtpCredentialsProperties, value: StoredCredentials): HandlerResponse {
  return {
    PhysicalResourceId: resourceOf(value),
    Data: { SecretArn: props.SecretArn, AccessKeyId: value.username },
  };
}

const owns = (props: SmtpCredentialsProperties | undefined) => props?.OwnsUserKeys === 'true';

/** Deletes the keys of a construct-owned user that neither the secret nor the physical id names. */
async function reconcile(userName: string, state: SecretState, physicalId?: string): Promise<void> {
  const named = namedKeys(state);
  if (physicalId) named.add(physicalId);
  for (const key of await keyIds(userName)) {
    if (!named.has(key)) await deleteKey(userName, key, 'neither the secret nor the resource names it');
  }
}

/**
 * Frees a slot for a new key: deletes keys other than the current one, those the secret names
 * first (the previous key, a cancelled rotation's), any other only when the user is ours.
 */
async function makeRoom(props: SmtpCredentialsProperties, state: SecretState): Promise<void> {
  const current = state.current?.value?.username;
  const named = namedKeys(state);
  const keys = await keyIds(props.UserName);
  const victims = keys.filter((k) => k !== current && (named.has(k) || owns(props)));
  while (keys.length >= MAX_KEYS) {
    const victim = victims.shift();
    if (victim === undefined) {
      throw new Error(
        `IAM user ${props.UserName} already has ${keys.length} access keys (${keys.join(', ')}); IAM allows ${MAX_KEYS}. Delete the one not in use and retry`,
      );
    }
    await deleteKey(props.UserName, victim, 'IAM allows two keys per user and a new one is needed');
    keys.splice(keys.indexOf(victim), 1);
  }
}

/** A version this very request already wrote (CloudFormation and Lambda may deliver an event twice). */
async function alreadyWritten(
  props: SmtpCredentialsProperties,
  requestId: string,
): Promise<HandlerResponse | undefined> {
  const value = await readVersion(props.SecretArn, requestId);
  if (!value || !(await keyIds(props.UserName)).includes(value.username)) return undefined;
  const state = await readState(props.SecretArn);
  if (state.stages[requestId]?.includes(WRITING)) await promote(state, requestId);
  log(`request ${requestId} was already handled: access key ${value.username}`);
  return response(props, value);
}

/**
 * Credentials in the secret an Update may keep: the current version when it is this resource's
 * key for this user and region (an endpoint or port change, or nothing key-related), else the
 * previous version for this user and region (the rollback of an update gets its old, still
 * working key back instead of a third key).
 */
function reusable(state: SecretState, props: SmtpCredentialsProperties, keys: string[], physicalId: string) {
  const fits = (v: Version | undefined): v is Version & { value: StoredCredentials } =>
    v?.value !== undefined && v.value.region === props.SmtpRegion && keys.includes(v.value.username);
  if (fits(state.current) && resourceOf(state.current.value) === physicalId) return state.current;
  if (fits(state.previous)) return state.previous;
  return undefined;
}

async function converge(
  props: SmtpCredentialsProperties,
  requestId: string,
  physicalId?: string,
  oldProps?: SmtpCredentialsProperties,
): Promise<HandlerResponse> {
  const done = await alreadyWritten(props, requestId);
  if (done) return done;
  let state = await readState(props.SecretArn);
  // A stack change wins over a rotation in progress: its pending version would bring back the
  // old key, region, endpoint or port.
  if (await cancelPending(state, props.UserName, 'the stack changes the credentials')) {
    state = await readState(props.SecretArn);
  }
  if (owns(props)) await reconcile(props.UserName, state, physicalId);
  if (oldProps && oldProps.UserName !== props.UserName && owns(oldProps)) {
    await reconcile(oldProps.UserName, state, physicalId);
  }
  const values = { region: props.SmtpRegion, endpoint: props.Endpoint, port: Number(props.Port) };

  const keep = physicalId ? reusable(state, props, await keyIds(props.UserName), physicalId) : undefined;
  if (keep?.value) {
    const kept: StoredCredentials = { ...keep.value, ...values, resource: resourceOf(keep.value) };
    if (keep !== state.current || keep.value.endpoint !== props.Endpoint || keep.value.port !== Number(props.Port)) {
      await putVersion(props.SecretArn, requestId, kept, WRITING, props.UserName, false);
      await promote(await readState(props.SecretArn), requestId);
    }
    log(`kept access key ${kept.username} (${keep === state.current ? 'current' : 'previous'} version of the secret)`);
    return response(props, kept);
  }

  await makeRoom(props, state);
  const created = await createKey(props.UserName, values);
  await putVersion(props.SecretArn, requestId, created, WRITING, props.UserName, true);
  await promote(await readState(props.SecretArn), requestId);
  return response(props, created);
}

/**
 * Create always makes a key of its own: a second resource on the same secret (a logical id
 * change) must not share the first one's key, or the first one's Delete would remove it.
 */
export async function onCreate(props: SmtpCredentialsProperties, requestId: string): Promise<HandlerResponse> {
  return converge(props, requestId);
}

/**
 * Update keeps the key when the current version is this resource's key for the new user and
 * region (rewriting endpoint and port if they changed), restores the previous one on a rollback,
 * and otherwise makes a new key; CloudFormation's cleanup Delete removes the old one once the
 * whole update has succeeded.
 */
export async function onUpdate(
  props: SmtpCredentialsProperties,
  requestId: string,
  physicalId: string,
  oldProps?: SmtpCredentialsProperties,
): Promise<HandlerResponse> {
  return converge(props, requestId, physicalId, oldProps);
}

/**
 * When the secret still serves this resource (its current version holds this resource's key, or
 * one rotated from it), the resource is going away: every key of it goes (so the user can be
 * deleted), and a previous version of another resource, if its key still exists, becomes current
 * again. Otherwise this is the cleanup of a replaced key: that key goes, never the key the
 * secret's current or pending version holds.
 */
export async function onDelete(physicalId: string, props: SmtpCredentialsProperties): Promise<void> {
  // A Create that failed before returning an id leaves CloudFormation's placeholder, not a key.
  if (!ACCESS_KEY_ID.test(physicalId)) {
    log(`nothing to delete for ${physicalId}`);
    return;
  }
  const state = await readState(props.SecretArn);
  const current = state.current?.value;
  const ours = (v: Version | undefined) => v?.value !== undefined && resourceOf(v.value) === physicalId;
  const victims = new Set([physicalId]);
  if (current && resourceOf(current) === physicalId) {
    await cancelPending(state, props.UserName, 'the resource is deleted');
    const other = state.previous?.value;
    if (other && !ours(state.previous) && (await keyIds(props.UserName)).includes(other.username)) {
      await promote(state, state.previous?.id ?? '');
      log(`restored access key ${other.username} (previous version) as current`);
    } else if (other) {
      victims.add(other.username);
    }
    victims.add(current.username);
  } else {
    if (ours(state.previous) && state.previous?.value) victims.add(state.previous.value.username);
    for (const v of [state.current, state.pending]) if (v?.value) victims.delete(v.value.username);
  }
  for (const key of victims) await deleteKey(props.UserName, key, `resource ${physicalId} is deleted`);
  if (owns(props)) await reconcile(props.UserName, await readState(props.SecretArn));
}

export async function handler(
  event: CloudFormationCustomResourceEvent,
): Promise<HandlerResponse | { PhysicalResourceId: string }> {
  const props = event.ResourceProperties as unknown as SmtpCredentialsProperties;
  log(`${event.RequestType} for ${props.UserName} in ${props.SmtpRegion}`);
  switch (event.RequestType) {
    case 'Create':
      return onCreate(props, event.RequestId);
    case 'Update':
      return onUpdate(
        props,
        event.RequestId,
        event.PhysicalResourceId,
        event.OldResourceProperties as unknown as SmtpCredentialsProperties,
      );
    case 'Delete':
      await onDelete(event.PhysicalResourceId, props);
      return { PhysicalResourceId: event.PhysicalResourceId };
  }
}
