// `ses-relay doctor`: tells why mail from an identity is or is not flowing through SES (account
// sending status and sandbox, quota and rate, identity verification, DKIM, MAIL FROM,
// configuration set) and, given the credentials' secret, how old their access key is and when it
// rotated and rotates next; as text or JSON; exits non-zero when the account cannot send from it.
import { GetAccessKeyLastUsedCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  GetAccountCommand,
  type GetAccountCommandOutput,
  GetConfigurationSetCommand,
  GetEmailIdentityCommand,
  type GetEmailIdentityCommandOutput,
  SESv2Client,
} from '@aws-sdk/client-sesv2';
import { errorName, isGone } from '../private/aws-errors';
import { checkRegion } from '../smtp/endpoints';
import type { CliIo } from './io';
import { UsageError } from './io';

export interface DoctorOptions {
  readonly smtpRegion?: string;
  readonly identity?: string;
  readonly configurationSetName?: string;
  /** Name or ARN of the SesSmtpCredentials secret: adds the key age and rotation checks. */
  readonly secretId?: string;
  /** Region of the secret. @default - `smtpRegion` */
  readonly secretRegion?: string;
  readonly json?: boolean;
}

export type Severity = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  readonly check: string;
  readonly severity: Severity;
  readonly detail: string;
}

export interface DoctorReport {
  readonly region: string;
  readonly identity: string;
  readonly canSend: boolean;
  readonly checks: DoctorCheck[];
}

async function identityOrNull(client: SESv2Client, name: string): Promise<GetEmailIdentityCommandOutput | null> {
  try {
    return await client.send(new GetEmailIdentityCommand({ EmailIdentity: name }));
  } catch (err) {
    if (errorName(err) === 'NotFoundException') return null;
    throw err;
  }
}

type Add = (check: string, severity: Severity, detail: string) => void;

/** What GetAccount says about sending from this account in this region. */
export function accountChecks(account: GetAccountCommandOutput): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  const add: Add = (check, severity, detail) => checks.push({ check, severity, detail });
  add(
    'sending',
    account.SendingEnabled === false ? 'fail' : 'ok',
    account.SendingEnabled === false ? 'sending is paused for this account in this region' : 'enabled',
  );
  const enforcement = account.EnforcementStatus ?? 'HEALTHY';
  add('account status', enforcement === 'SHUTDOWN' ? 'fail' : enforcement === 'HEALTHY' ? 'ok' : 'warn', enforcement);
  add(
    'production access',
    account.ProductionAccessEnabled ? 'ok' : 'warn',
    account.ProductionAccessEnabled
      ? 'out of the sandbox'
      : 'sandbox: mail only to verified recipients (request production access in the SES console)',
  );
  const q = account.SendQuota ?? {};
  const exhausted =
    q.Max24HourSend !== undefined && q.Max24HourSend >= 0 && (q.SentLast24Hours ?? 0) >= q.Max24HourSend;
  add(
    'quota',
    exhausted ? 'fail' : 'ok',
    `${q.SentLast24Hours ?? 0} of ${q.Max24HourSend ?? '?'} messages in the last 24 h; at most ${q.MaxSendRate ?? '?'} per second`,
  );
  return checks;
}

/** What SES says about the identity (or, for an address, its domain) and the configuration set. */
export async function identityChecks(
  client: SESv2Client,
  region: string,
  identity: string,
  configurationSet?: string,
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const add: Add = (check, severity, detail) => checks.push({ check, severity, detail });

  // An address can send when it, or its domain, is a verified identity.
  let found = await identityOrNull(client, identity);
  let checkedName = identity;
  if (!found && identity.includes('@')) {
    checkedName = identity.slice(identity.indexOf('@') + 1);
    found = await identityOrNull(client, checkedName);
  }
  if (!found) {
    add('identity', 'fail', `${identity} is not an SES identity in ${region}`);
  } else {
    add(
      'identity',
      found.VerifiedForSendingStatus ? 'ok' : 'fail',
      `${checkedName} (${found.IdentityType ?? 'identity'}) ${found.VerifiedForSendingStatus ? 'verified for sending' : 'not verified yet'}`,
    );
    const dkim = found.DkimAttributes;
    if (found.IdentityType === 'DOMAIN' || dkim?.Status !== undefined) {
      const status = dkim?.Status ?? 'NOT_STARTED';
      const severity: Severity =
        status === 'SUCCESS' && dkim?.SigningEnabled !== false ? 'ok' : status === 'FAILED' ? 'fail' : 'warn';
      add('DKIM', severity, `${status}${dkim?.SigningEnabled === false ? ', signing disabled' : ''}`);
    }
    const mailFrom = found.MailFromAttributes;
    if (mailFrom?.MailFromDomain) {
      const ok = mailFrom.MailFromDomainStatus === 'SUCCESS';
      const rejects = mailFrom.BehaviorOnMxFailure === 'REJECT_MESSAGE';
      add(
        'MAIL FROM',
        ok ? 'ok' : rejects ? 'fail' : 'warn',
        `${mailFrom.MailFromDomain}: ${mailFrom.MailFromDomainStatus}${ok ? '' : rejects ? ' (SES rejects mail until it verifies)' : ' (SES uses amazonses.com meanwhile)'}`,
      );
    }
    if (found.ConfigurationSetName) add('default configuration set', 'ok', found.ConfigurationSetName);
  }

  if (configurationSet) {
    try {
      await client.send(new GetConfigurationSetCommand({ ConfigurationSetName: configurationSet }));
      add('configuration set', 'ok', `${configurationSet} exists`);
    } catch (err) {
      if (errorName(err) !== 'NotFoundException') throw err;
      add('configuration set', 'fail', `${configurationSet} does not exist in ${region}: SES rejects mail naming it`);
    }
  }
  return checks;
}

/** Asks SES about the account and the identity; pure reporting, no changes. */
export async function diagnose(
  client: SESv2Client,
  region: string,
  identity: string,
  configurationSet?: string,
): Promise<DoctorReport> {
  const checks = [
    ...accountChecks(await client.send(new GetAccountCommand({}))),
    ...(await identityChecks(client, region, identity, configurationSet)),
  ];
  return { region, identity, canSend: !checks.some((c) => c.severity === 'fail'), checks };
}

/** Security Hub IAM.3 flags access keys older than this when nothing rotates them. */
const UNROTATED_KEY_MAX_DAYS = 90;
const DAY_MS = 86_400_000;

function day(date: Date | undefined): string {
  return date ? date.toISOString().slice(0, 10) : 'never';
}

/** The rotation period in days from Secrets Manager's rules (`AutomaticallyAfterDays` or `rate(N days)`). */
function rotationDays(rules: { AutomaticallyAfterDays?: number; ScheduleExpression?: string } | undefined) {
  if (rules?.AutomaticallyAfterDays) return rules.AutomaticallyAfterDays;
  const rate = /^rate\((\d+) days?\)$/.exec(rules?.ScheduleExpression ?? '');
  return rate ? Number(rate[1]) : undefined;
}

/**
 * What the credentials' secret and IAM say about the SMTP key: its age against the rotation
 * period, the last and next rotation, a rotation that did not finish. Reads the secret's current
 * version for the key id (the SMTP user name) only; the password is never kept or shown.
 */
export async function credentialsChecks(
  secrets: SecretsManagerClient,
  iam: IAMClient,
  secretId: string,
  now: Date = new Date(),
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const add: Add = (check, severity, detail) => checks.push({ check, severity, detail });
  const described = await secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
  const current = await secrets.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }));
  let keyId: string | undefined;
  try {
    const parsed = JSON.parse(current.SecretString ?? '') as { username?: unknown };
    keyId = typeof parsed.username === 'string' ? parsed.username : undefined;
  } catch {
    keyId = undefined;
  }
  const period = described.RotationEnabled ? rotationDays(described.RotationRules) : undefined;
  if (!keyId) {
    add('SMTP key', 'fail', `${secretId} holds no SES SMTP credentials yet (is the stack deployed?)`);
    return checks;
  }
  let user: string | undefined;
  try {
    user = (await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: keyId }))).UserName;
  } catch (err) {
    if (!isGone(err)) throw err;
  }
  const created = user
    ? (await iam.send(new ListAccessKeysCommand({ UserName: user }))).AccessKeyMetadata?.find(
        (k) => k.AccessKeyId === keyId,
      )?.CreateDate
    : undefined;
  if (!user) {
    add('SMTP key', 'fail', `${keyId} no longer exists in IAM: relays cannot authenticate with SES`);
  } else {
    const age = created ? Math.floor((now.getTime() - created.getTime()) / DAY_MS) : undefined;
    const limit = period ?? UNROTATED_KEY_MAX_DAYS;
    const old = age !== undefined && age > limit;
    const why = period
      ? `older than the rotation period (${period} days): check the rotation function's logs`
      : `older than ${UNROTATED_KEY_MAX_DAYS} days (Security Hub IAM.3)`;
    add('SMTP key', old ? 'warn' : 'ok', `${keyId} of ${user}, ${age ?? '?'} days old${old ? `: ${why}` : ''}`);
  }
  if (period) {
    add(
      'rotation',
      'ok',
      `every ${period} days; last ${day(described.LastRotatedDate)}, next ${day(described.NextRotationDate)}`,
    );
  } else {
    add(
      'rotation',
      'warn',
      'off: the key changes only when the stack changes the credentials (SesSmtpCredentials rotationPeriod)',
    );
  }
  const stages = Object.values(described.VersionIdsToStages ?? {});
  if (stages.some((s) => s.includes('AWSPENDING') && !s.includes('AWSCURRENT'))) {
    add(
      'rotation',
      'warn',
      "a rotation did not finish (AWSPENDING is set): the current key stays in use; see the rotation function's logs",
    );
  }
  return checks;
}

const MARK: Record<Severity, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

export function formatReport(report: DoctorReport): string {
  const lines = report.checks.map((c) => `${MARK[c.severity]}  ${c.check}: ${c.detail}`);
  const verdict = report.canSend
    ? `SES in ${report.region} can send from ${report.identity}.`
    : `SES in ${report.region} cannot send from ${report.identity}: see FAIL above.`;
  return `${lines.join('\n')}\n${verdict}\n`;
}

export async function doctorCommand(options: DoctorOptions, io: CliIo, client?: SESv2Client): Promise<number> {
  let region: string;
  try {
    region = checkRegion(options.smtpRegion);
  } catch (err) {
    throw new UsageError(`--smtp-region: ${(err as Error).message}`);
  }
  if (!options.identity) throw new UsageError('--identity is required: the domain or address you send from');
  if (options.secretRegion !== undefined) {
    try {
      checkRegion(options.secretRegion);
    } catch (err) {
      throw new UsageError(`--secret-region: ${(err as Error).message}`);
    }
  }
  const ses = client ?? new SESv2Client({ region });
  let report: DoctorReport;
  try {
    report = await diagnose(ses, region, options.identity, options.configurationSetName);
  } catch (err) {
    io.stderr(`ses-relay: cannot ask SES in ${region}: ${errorName(err)}: ${(err as Error).message}\n`);
    return 1;
  }
  if (options.secretId) {
    const secretRegion = options.secretRegion ?? region;
    try {
      const checks = await credentialsChecks(
        new SecretsManagerClient({ region: secretRegion }),
        new IAMClient({ region: secretRegion }),
        options.secretId,
      );
      report = {
        ...report,
        canSend: report.canSend && !checks.some((c) => c.severity === 'fail'),
        checks: [...report.checks, ...checks],
      };
    } catch (err) {
      io.stderr(
        `ses-relay: cannot read the credentials ${options.secretId} in ${secretRegion}: ${errorName(err)}: ${(err as Error).message}\n`,
      );
      return 1;
    }
  }
  io.stdout(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.canSend ? 0 : 1;
}
