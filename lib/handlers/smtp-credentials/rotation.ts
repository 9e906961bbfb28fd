// The Secrets Manager rotation function of SesSmtpCredentials: Secrets Manager calls it once per
// step with {Step, SecretId, ClientRequestToken}; each step is idempotent, as Secrets Manager
// retries steps.
//
// The key lifecycle: createSecret makes the new key (AWSPENDING); testSecret proves SES accepts it;
// finishSecret makes it AWSCURRENT, and the old key becomes AWSPREVIOUS and stays valid, so
// relays that have not refreshed yet keep sending with it. It is deleted by the next rotation's
// createSecret (IAM allows two keys, and the new one needs the slot): a whole rotation period
// later, against a relay refresh every few minutes. A grace timer would need a scheduler of its
// own and could still race the next rotation; the next rotation needs the slot anyway. A rotation
// asked for by hand within an hour of the last one is refused rather than cut off relays that
// have not refreshed yet.

import { SES_SMTP_FIPS_REGIONS, smtpEndpoint } from '../../smtp/endpoints';
import { type SmtpProbeOptions, smtpAuthenticateWithRetry } from './smtp-probe';
import {
  CURRENT,
  cancelPending,
  createKey,
  deleteKey,
  keyIds,
  log,
  moveStage,
  ownerOf,
  PENDING,
  putVersion,
  readState,
  readVersion,
  removeStage,
  resourceOf,
  type SecretState,
  versionCreated,
} from './state';
import type { RotationEvent, StoredCredentials } from './types';

/** How long the previous key outlives the rotation that replaced it, at least (relays refresh every few minutes). */
export const PREVIOUS_KEY_MIN_LIFETIME_MS = 3_600_000;

/** How testSecret reaches SES; tests point it at a stand-in. */
export interface TestSecretOptions {
  /** Give up authenticating at this time (epoch ms). @default - 2 minutes from now */
  readonly deadline?: number;
  /** Connect to this address instead of the endpoint (the certificate is still checked for the endpoint). */
  readonly connectTo?: string;
  /** Use this port instead of the one the probe derives from the secret. */
  readonly connectPort?: number;
  /** CA certificates to trust instead of Node's store (tests only). */
  readonly ca?: string | Buffer;
  /** @default 2000 */
  readonly firstDelayMs?: number;
}

/** The event's version must still be pending (a stack update cancels a rotation in progress). */
function pendingStagesOf(state: SecretState, token: string): 'current' | 'pending' | 'absent' {
  const stages = state.stages[token];
  if (stages === undefined) return 'absent';
  if (stages.includes(CURRENT)) return 'current';
  if (stages.includes(PENDING)) return 'pending';
  throw new Error(
    `version ${token} of ${state.arn} is no longer AWSPENDING (a stack update replaced the credentials meanwhile); the current credentials stay, and the next rotation starts afresh`,
  );
}

function currentCredentials(state: SecretState): StoredCredentials {
  const value = state.current?.value;
  if (!value) {
    throw new Error(
      `the current version of ${state.arn} holds no SES SMTP credentials yet: deploy the stack (its custom resource writes them) before rotating`,
    );
  }
  return value;
}

async function userOf(accessKeyId: string, arn: string): Promise<string> {
  const user = await ownerOf(accessKeyId);
  if (!user) {
    throw new Error(
      `the current access key ${accessKeyId} of ${arn} no longer exists in IAM; update the stack (a changed property makes a new key) instead of rotating`,
    );
  }
  return user;
}

/**
 * A new key for the user of the current key, its SMTP password for the same region, stored as
 * AWSPENDING under the event's token. First every other key of the user goes (the previous
 * rotation's key, a failed rotation's, one orphaned by an invocation killed before it stored its
 * key), so the new key never is a third. Repeated, it finds its version and does nothing.
 */
export async function createSecret(
  secretId: string,
  token: string,
  options: { previousKeyMinLifetimeMs?: number } = {},
): Promise<void> {
  const state = await readState(secretId);
  if (pendingStagesOf(state, token) === 'current') {
    log(`createSecret: version ${token} is already current`);
    return;
  }
  const current = currentCredentials(state);
  const user = await userOf(current.username, state.arn);
  const pending = await readVersion(state.arn, token);
  if (pending) {
    if ((await keyIds(user)).includes(pending.username)) {
      log(`createSecret: version ${token} already holds access key ${pending.username}`);
      return;
    }
    throw new Error(
      `version ${token} of ${state.arn} names access key ${pending.username}, which no longer exists; the current credentials stay, and the next rotation starts afresh`,
    );
  }
  // A rotation refused (the previous key still in its grace period) changes nothing: checked first.
  const previous = state.previous?.value?.username;
  if (previous && previous !== current.username && (await keyIds(user)).includes(previous) && state.current) {
    const since = await versionCreated(state.arn, state.current.id);
    const keptUntil = (since?.getTime() ?? 0) + (options.previousKeyMinLifetimeMs ?? PREVIOUS_KEY_MIN_LIFETIME_MS);
    if (Date.now() < keptUntil) {
      throw new Error(
        `the previous access key ${previous} was replaced by version ${state.current.id} of ${since?.toISOString()}; relays may use it until their next refresh, so it stays until ${new Date(keptUntil).toISOString()}: rotate again after that (or delete it in IAM first if it must go now)`,
      );
    }
  }
  // An older rotation that never finished: its label moves to this version, its key goes below.
  if (state.pending && state.pending.id !== token) {
    await cancelPending(state, user, `rotation ${token} replaces it`);
  }
  const held = await keyIds(user);
  for (const key of held) {
    if (key !== current.username) await deleteKey(user, key, 'the rotation needs its slot; relays use the current key');
  }
  const created = await createKey(user, {
    region: current.region,
    endpoint: current.endpoint,
    port: current.port,
    resource: resourceOf(current),
  });
  await putVersion(state.arn, token, created, PENDING, user, true);
  log(`createSecret: version ${token} holds access key ${created.username} (AWSPENDING)`);
}

/** SES has nothing to set: the SMTP password is derived from the new key, valid once IAM has it. */
export async function setSecret(_secretId: string, token: string): Promise<void> {
  log(`setSecret: nothing to set for version ${token}: SES accepts the new key once IAM has propagated it`);
}

/** Where testSecret authenticates: the SES endpoint of the region (Lambda blocks port 25: 587 then). */
export function probeTarget(value: StoredCredentials): { host: string; port: number } {
  const regional = [smtpEndpoint(value.region)];
  if (SES_SMTP_FIPS_REGIONS.includes(value.region)) regional.push(smtpEndpoint(value.region, true));
  const host = regional.includes(value.endpoint) ? value.endpoint : regional[0];
  return { host, port: value.port === 25 ? 587 : value.port };
}

/**
 * SMTP AUTH with the pending credentials against the region's SES SMTP endpoint over verified
 * TLS, retried while IAM propagates the new key; no mail is sent. A key that never authenticates
 * fails the step, and Secrets Manager leaves AWSCURRENT where it is.
 */
export async function testSecret(secretId: string, token: string, options: TestSecretOptions = {}): Promise<void> {
  const value = await readVersion(secretId, token, PENDING);
  if (!value) {
    throw new Error(`version ${token} of ${secretId} is not AWSPENDING or holds no SES SMTP credentials`);
  }
  const target = probeTarget(value);
  const probe: SmtpProbeOptions = {
    host: target.host,
    port: target.port,
    username: value.username,
    password: value.password,
    connectTo: options.connectTo,
    connectPort: options.connectPort,
    ca: options.ca,
  };
  const attempts = await smtpAuthenticateWithRetry(probe, {
    deadline: options.deadline ?? Date.now() + 120_000,
    firstDelayMs: options.firstDelayMs,
    onRetry: (n, err, delay) => log(`testSecret: attempt ${n} failed (${err.message}); retrying in ${delay} ms`),
  });
  log(`testSecret: SES at ${target.host}:${target.port} accepted access key ${value.username} (attempt ${attempts})`);
}

/** AWSCURRENT moves to the tested version; the old current becomes AWSPREVIOUS and stays valid. */
export async function finishSecret(secretId: string, token: string): Promise<void> {
  const state = await readState(secretId);
  const where = pendingStagesOf(state, token);
  if (where === 'absent') throw new Error(`version ${token} of ${state.arn} does not exist`);
  const value = await readVersion(state.arn, token);
  if (where === 'pending') {
    if (!value || (await ownerOf(value.username)) === undefined) {
      throw new Error(`version ${token} of ${state.arn} names no existing access key; the current credentials stay`);
    }
    await moveStage(state, CURRENT, token);
    log(
      `finishSecret: AWSCURRENT is version ${token} (access key ${value.username}); the previous key ${state.current?.value?.username ?? 'none'} stays valid until the next rotation`,
    );
  } else {
    log(`finishSecret: version ${token} is already current`);
  }
  // Secrets Manager drops AWSPENDING itself; doing it here too leaves no doubt for the next rotation.
  if (state.stages[token]?.includes(PENDING)) await removeStage(state.arn, PENDING, token);
}

/** Deadline for testSecret: the Lambda's remaining time, less a margin to report the failure. */
function deadlineOf(context?: { getRemainingTimeInMillis?: () => number }): number {
  const remaining = context?.getRemainingTimeInMillis?.() ?? 120_000;
  return Date.now() + Math.max(5_000, remaining - 20_000);
}

export async function rotationHandler(
  event: RotationEvent,
  context?: { getRemainingTimeInMillis?: () => number },
): Promise<void> {
  log(`${event.Step} for ${event.SecretId} (version ${event.ClientRequestToken})`);
  switch (event.Step) {
    case 'createSecret':
      return createSecret(event.SecretId, event.ClientRequestToken);
    case 'setSecret':
      return setSecret(event.SecretId, event.ClientRequestToken);
    case 'testSecret':
      return testSecret(event.SecretId, event.ClientRequestToken, { deadline: deadlineOf(context) });
    case 'finishSecret':
      return finishSecret(event.SecretId, event.ClientRequestToken);
    default:
      throw new Error(`unknown rotation step ${JSON.stringify((event as { Step?: string }).Step)}`);
  }
}
