// SesSmtpCredentials: an IAM user allowed to send through SES, an access key created inside a
// custom resource, its SES SMTP password stored in a Secrets Manager secret the construct owns,
// and (optionally) a rotation schedule that replaces the key.
import { Annotations, CustomResource, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as ses from 'aws-cdk-lib/aws-ses';
import { Construct, type IConstruct } from 'constructs';
import type { SmtpCredentialsProperties } from './handlers/smtp-credentials/types';
import { checkHostName } from './private/checks';
import { CredentialsProvider, KEY_ACTIONS, userPath } from './private/credentials-provider';
import { validateProp } from './private/validate';
import { checkRegion, DEFAULT_SMTP_PORT, hasSmtpEndpoint, tlsModeOf } from './smtp/endpoints';

/**
 * SES SMTP credentials in a Secrets Manager secret (`{"username", "password"}`): made by
 * SesSmtpCredentials, or imported with `SesSmtpCredentials.fromSecret`.
 */
export interface ISesSmtpCredentials extends IConstruct {
  /** The secret holding the SMTP user name and password. */
  readonly secret: secretsmanager.ISecret;
  /** The SES region the password is valid in. */
  readonly smtpRegion: string;
  /** The SMTP host relays connect to. */
  readonly smtpEndpoint: string;
  /** The SMTP port relays connect to. */
  readonly smtpPort: number;
  /**
   * The SMTP user name (the access key id) as CloudFormation knows it, not a secret: relays
   * configured with these credentials are replaced when it changes.
   * @default - not known (imported credentials): relays follow the secret's changes without replacement
   */
  readonly accessKeyId?: string;
  /** Lets a principal (e.g. an instance role) read the credentials. */
  grantRead(grantee: iam.IGrantable): iam.Grant;
}

/** Credentials made elsewhere (another stack, by hand), as `SesSmtpCredentials.fromSecret` takes them. */
export interface SesSmtpCredentialsAttributes {
  /** The secret holding `{"username", "password"}` (the SMTP user name and the SES SMTP password). */
  readonly secret: secretsmanager.ISecret;
  /**
   * The SES region the password was derived for.
   * @default - the secret's region
   */
  readonly smtpRegion?: string;
  /**
   * The SMTP port: 25, 587, 2587 (STARTTLS), 465, 2465 (TLS wrapper).
   * @default 587
   */
  readonly smtpPort?: number;
  /**
   * The SMTP host, e.g. an SES VPC endpoint's DNS name.
   * @default - `email-smtp.REGION.amazonaws.com`
   */
  readonly smtpEndpoint?: string;
}

export interface SesSmtpCredentialsProps {
  /**
   * The IAM user that owns the SMTP access key.
   * @default - a new IAM user
   */
  readonly user?: iam.IUser;
  /**
   * SES identities (domains or addresses) the credentials may send from. Required unless
   * `allowAnyIdentity` is set.
   * @default - none
   */
  readonly identities?: ses.IEmailIdentity[];
  /**
   * Allow sending from any identity of the account (`ses:SendRawEmail` on `identity/*`).
   * @default false
   */
  readonly allowAnyIdentity?: boolean;
  /**
   * Restrict the From address (`ses:FromAddress` condition, wildcards allowed: `*@example.com`).
   * @default - any address of the identities
   */
  readonly fromAddresses?: string[];
  /**
   * Configuration sets the credentials may name in `X-SES-CONFIGURATION-SET`.
   * @default - none
   */
  readonly configurationSets?: ses.IConfigurationSet[];
  /**
   * The SES region the SMTP password is derived for (may differ from the stack's region).
   * @default - the stack's region
   */
  readonly smtpRegion?: string;
  /**
   * The SMTP port recorded in the secret: 25, 587, 2587 (STARTTLS), 465, 2465 (TLS wrapper).
   * @default 587
   */
  readonly smtpPort?: number;
  /**
   * The SMTP host recorded in the secret, e.g. an SES VPC endpoint DNS name.
   * @default - `email-smtp.REGION.amazonaws.com`
   */
  readonly smtpEndpoint?: string;
  /**
   * Customer managed KMS key to encrypt the secret with.
   * @default - the AWS managed key of Secrets Manager
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Rotate the access key on this schedule (Secrets Manager rotation, 1 to 365 whole days): a new
   * key, tested with an SMTP AUTH against SES, becomes current; the previous one stays valid until
   * the next rotation deletes it.
   * @default - no scheduled rotation: the key changes only when the user, region or secret changes
   */
  readonly rotationPeriod?: Duration;
  /**
   * Let the construct delete access keys of `user` that the secret does not name. Rotation needs
   * this with an existing user: IAM allows two keys per user, and each rotation deletes the key
   * of the rotation before.
   * @default false
   */
  readonly manageExistingUserKeys?: boolean;
}

const MIN_ROTATION_DAYS = 1;
const MAX_ROTATION_DAYS = 365;

/**
 * The SES side of credentials, checked where it enters (SesSmtpCredentials' props, or the
 * attributes of `fromSecret`); errors name the construct path, the prop, the value and what is
 * allowed.
 */
function smtpSettings(
  scope: Construct,
  given: { smtpRegion?: string; smtpPort?: number; smtpEndpoint?: string },
  defaultRegion: string,
): { smtpRegion: string; smtpPort: number; smtpEndpoint: string } {
  const smtpRegion = given.smtpRegion ?? defaultRegion;
  const smtpPort = given.smtpPort ?? DEFAULT_SMTP_PORT;
  validateProp(scope, 'smtpRegion', smtpRegion, checkRegion);
  validateProp(scope, 'smtpPort', smtpPort, tlsModeOf);
  let smtpEndpoint = `email-smtp.${smtpRegion}.amazonaws.com`;
  if (given.smtpEndpoint !== undefined) {
    smtpEndpoint = given.smtpEndpoint;
    validateProp(scope, 'smtpEndpoint', given.smtpEndpoint, (e) => {
      smtpEndpoint = checkHostName(e, 'endpoint');
    });
  }
  if (!Token.isUnresolved(smtpRegion) && !hasSmtpEndpoint(smtpRegion)) {
    Annotations.of(scope).addWarningV2(
      'ses-relay:unknownSmtpRegion',
      `SES is not known to offer SMTP in ${smtpRegion}; check the region`,
    );
  }
  return { smtpRegion, smtpPort, smtpEndpoint };
}

/** Credentials of `fromSecret`: what relays need of them, nothing made. */
class ImportedSesSmtpCredentials extends Construct implements ISesSmtpCredentials {
  readonly secret: secretsmanager.ISecret;
  readonly smtpRegion: string;
  readonly smtpEndpoint: string;
  readonly smtpPort: number;

  constructor(scope: Construct, id: string, attrs: SesSmtpCredentialsAttributes) {
    super(scope, id);
    this.secret = attrs.secret;
    ({
      smtpRegion: this.smtpRegion,
      smtpPort: this.smtpPort,
      smtpEndpoint: this.smtpEndpoint,
    } = smtpSettings(this, attrs, attrs.secret.env.region));
  }

  grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.secret.grantRead(grantee);
  }
}

/**
 * SES SMTP credentials whose secret never leaves AWS: an IAM user scoped to sending from the
 * given identities, an access key made by a custom resource, and `{"username", "password",
 * "region", "endpoint", "port"}` in a Secrets Manager secret.
 *
 * @example
 * const identity = new ses.EmailIdentity(this, 'Identity', { identity: ses.Identity.domain('example.com') });
 * const credentials = new SesSmtpCredentials(this, 'Smtp', {
 *   identities: [identity],
 *   rotationPeriod: Duration.days(30), // a new key every 30 days, tested against SES first
 * });
 * credentials.grantRead(instance.role);
 */
export class SesSmtpCredentials extends Construct implements ISesSmtpCredentials {
  /**
   * Credentials made elsewhere (another stack, another account's tooling, by hand), from their
   * secret: relays configured with them read it at boot and follow its changes.
   */
  static fromSecret(scope: Construct, id: string, attrs: SesSmtpCredentialsAttributes): ISesSmtpCredentials {
    return new ImportedSesSmtpCredentials(scope, id, attrs);
  }

  /** The IAM user that owns the access key. */
  readonly user: iam.IUser;
  /** The secret holding the SMTP user name and password. */
  readonly secret: secretsmanager.ISecret;
  /** The SES region the password is valid in. */
  readonly smtpRegion: string;
  /** The SMTP host. */
  readonly smtpEndpoint: string;
  /** The SMTP port. */
  readonly smtpPort: number;
  /**
   * The SMTP user name (the access key id) the custom resource last stored; not a secret. It
   * changes when CloudFormation changes the credentials; a rotation changes the key without
   * changing this attribute (relays read the secret, not this). Always set here; optional only
   * because imported credentials (`fromSecret`) have none.
   */
  readonly accessKeyId?: string;

  constructor(scope: Construct, id: string, props: SesSmtpCredentialsProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    ({
      smtpRegion: this.smtpRegion,
      smtpPort: this.smtpPort,
      smtpEndpoint: this.smtpEndpoint,
    } = smtpSettings(this, props, stack.region));
    const identities = props.identities ?? [];
    if (identities.length === 0 && !props.allowAnyIdentity) {
      throw new Error(
        `${this.node.path}: identities: got none; list the SES identities these credentials may send from, or set allowAnyIdentity: true to allow every identity of the account`,
      );
    }

    const rotationDays = this.rotationDays(props);
    const ownsUserKeys = props.user === undefined || props.manageExistingUserKeys === true;
    this.user = props.user ?? new iam.User(this, 'User', { path: userPath(stack) });
    const arn = (resource: string, name: string) =>
      stack.formatArn({ service: 'ses', region: this.smtpRegion, resource, resourceName: name });
    const resources = props.allowAnyIdentity
      ? [arn('identity', '*')]
      : identities.map((i) => arn('identity', i.emailIdentityName));
    resources.push(...(props.configurationSets ?? []).map((c) => arn('configuration-set', c.configurationSetName)));
    // The permission goes to a group the user joins: no policy on the user itself.
    const group = new iam.Group(this, 'Group');
    this.user.addToGroup(group);
    const sendPolicy = new iam.Policy(this, 'SendPolicy', {
      groups: [group],
      statements: [
        new iam.PolicyStatement({
          actions: ['ses:SendRawEmail'],
          resources,
          conditions: props.fromAddresses ? { StringLike: { 'ses:FromAddress': props.fromAddresses } } : undefined,
        }),
      ],
    });
    Validations.of(sendPolicy).acknowledge({
      id: 'NIST.800.53.R5-IAMNoInlinePolicy',
      reason: 'A standalone policy owned by this construct, scoped to the listed SES identities',
    });

    this.secret = new secretsmanager.Secret(this, 'Secret', {
      description: `SES SMTP credentials (${this.node.path}); written by the ses-relay custom resource${rotationDays ? ' and rotation function' : ''}`,
      encryptionKey: props.encryptionKey,
    });
    if (!rotationDays) {
      const rotation =
        'Rotation is off (rotationPeriod unset): the custom resource makes a new key when the user, region or secret changes';
      Validations.of(this.secret).acknowledge(
        { id: 'AwsSolutions-SMG4', reason: rotation },
        { id: 'NIST.800.53.R5-SecretsManagerRotationEnabled', reason: rotation },
      );
    }

    const provider = CredentialsProvider.of(this);
    if (props.user === undefined) {
      provider.allowOwnedUsers();
    } else {
      provider.handlerRole.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: KEY_ACTIONS, resources: [this.user.userArn] }),
      );
    }
    provider.handlerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:ListSecretVersionIds',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecretVersionStage',
        ],
        resources: [this.secret.secretArn],
      }),
    );
    // What Secrets Manager asks of the caller's key access for PutSecretValue and GetSecretValue.
    props.encryptionKey?.grant(provider.handlerRole, 'kms:GenerateDataKey', 'kms:Decrypt');

    const properties: SmtpCredentialsProperties = {
      UserName: this.user.userName,
      SecretArn: this.secret.secretArn,
      SmtpRegion: this.smtpRegion,
      Endpoint: this.smtpEndpoint,
      Port: String(this.smtpPort),
      OwnsUserKeys: String(ownsUserKeys),
    };
    const resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::SesSmtpCredentials',
      properties: { ...properties },
      serviceTimeout: Duration.minutes(5),
    });
    resource.node.addDependency(provider.handlerRole);
    this.accessKeyId = resource.getAttString('AccessKeyId');

    if (rotationDays) {
      const rotationFunction = provider.rotationFunction();
      // Only Secrets Manager, and only for this secret, may invoke it.
      const permission = new lambda.CfnPermission(this, 'RotationPermission', {
        action: 'lambda:InvokeFunction',
        functionName: rotationFunction.functionArn,
        principal: 'secretsmanager.amazonaws.com',
        sourceArn: this.secret.secretArn,
        sourceAccount: stack.account,
      });
      // The L1 schedule: the L2 would also grant secretsmanager:GetRandomPassword on `*`, which
      // the rotation never calls.
      const schedule = new secretsmanager.CfnRotationSchedule(this, 'RotationSchedule', {
        secretId: this.secret.secretArn,
        rotationLambdaArn: rotationFunction.functionArn,
        rotationRules: { automaticallyAfterDays: rotationDays },
        // The custom resource has just made a key: no rotation at deployment.
        rotateImmediatelyOnUpdate: false,
      });
      // The first rotation needs the credentials the custom resource writes, and the permission.
      schedule.node.addDependency(resource, permission, provider.handlerRole);
    }
  }

  /** The rotation period in whole days, or undefined; checked where it enters. */
  private rotationDays(props: SesSmtpCredentialsProps): number | undefined {
    const period = props.rotationPeriod;
    if (period === undefined) return undefined;
    const days = period.toDays({ integral: false });
    // A period known only at deploy time (a token) is passed on unchecked.
    const outOfRange = !Number.isInteger(days) || days < MIN_ROTATION_DAYS || days > MAX_ROTATION_DAYS;
    if (!period.isUnresolved() && outOfRange) {
      throw new Error(
        `${this.node.path}: rotationPeriod: got ${period.toHumanString()}; allowed: whole days from ${MIN_ROTATION_DAYS} to ${MAX_ROTATION_DAYS} (Duration.days(30))`,
      );
    }
    if (props.user !== undefined && props.manageExistingUserKeys !== true) {
      throw new Error(
        `${this.node.path}: rotationPeriod: got ${days} days with an existing user (the user prop): each rotation deletes that user's access keys other than the current one; set manageExistingUserKeys: true to allow it, or leave rotationPeriod unset`,
      );
    }
    return days;
  }

  /** Lets a principal (e.g. an instance role) read the credentials. */
  grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.secret.grantRead(grantee);
  }
}
