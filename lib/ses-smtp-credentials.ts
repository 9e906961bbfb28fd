// SesSmtpCredentials: an IAM user allowed to send through SES, an access key created inside a
// custom resource, its SES SMTP password stored in a Secrets Manager secret the construct owns,
// and (optionally) a rotation schedule that replaces the key.
import { Annotations, type CfnElement, CustomResource, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as ses from 'aws-cdk-lib/aws-ses';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { assertHostName } from './bootstrap/options';
import type { SmtpCredentialsProperties } from './handlers/smtp-credentials/types';
import { handlerAssetPath } from './private/assets';
import { validateProp } from './private/validate';
import { assertRegion, DEFAULT_SMTP_PORT, hasSmtpEndpoint, tlsModeOf } from './smtp';

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
  readonly port?: number;
  /**
   * The SMTP host recorded in the secret, e.g. an SES VPC endpoint DNS name.
   * @default - `email-smtp.REGION.amazonaws.com`
   */
  readonly endpoint?: string;
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

/**
 * The IAM path of users the construct makes, per stack: the handlers' key actions are scoped to
 * it, so a key of such a user stays manageable after a user swap or a move in the construct tree.
 */
function userPath(stack: Stack): string {
  return Token.isUnresolved(stack.stackName) ? '/ses-relay/' : `/ses-relay/${stack.stackName}/`;
}

const PROVIDER_ID = 'SesRelaySmtpCredentialsProvider';
const KEY_ACTIONS = ['iam:CreateAccessKey', 'iam:DeleteAccessKey', 'iam:GetAccessKeyLastUsed', 'iam:ListAccessKeys'];
const MIN_ROTATION_DAYS = 1;
const MAX_ROTATION_DAYS = 365;

/** The per-stack handler and Provider (found with tryFindChild: never a static singleton). */
class CredentialsProvider extends Construct {
  static of(scope: Construct): CredentialsProvider {
    const stack = Stack.of(scope);
    return (stack.node.tryFindChild(PROVIDER_ID) as CredentialsProvider) ?? new CredentialsProvider(stack, PROVIDER_ID);
  }

  readonly handlerRole: iam.Role;
  readonly serviceToken: string;
  private readonly handlerLogs: logs.LogGroup;
  private rotation?: lambda.Function;
  private ownedUsersAllowed = false;

  private constructor(scope: Construct, id: string) {
    super(scope, id);
    const handlerLogs = new logs.LogGroup(this, 'HandlerLogs', { retention: logs.RetentionDays.ONE_YEAR });
    const frameworkLogs = new logs.LogGroup(this, 'FrameworkLogs', { retention: logs.RetentionDays.ONE_YEAR });
    // Roles with inline, log-group-scoped permissions instead of AWSLambdaBasicExecutionRole.
    this.handlerLogs = handlerLogs;
    this.handlerRole = lambdaRole(this, 'HandlerRole', handlerLogs);
    const handler = new lambda.Function(this, 'Handler', {
      description: 'ses-relay: creates and deletes SES SMTP access keys',
      runtime: lambda.Runtime.NODEJS_24_X,
      code: lambda.Code.fromAsset(handlerAssetPath('smtp-credentials')),
      handler: 'index.handler',
      timeout: Duration.minutes(1),
      role: this.handlerRole,
      logGroup: handlerLogs,
    });
    const frameworkRole = lambdaRole(this, 'FrameworkRole', frameworkLogs);
    const provider = new Provider(this, 'Provider', {
      onEventHandler: handler,
      frameworkOnEventRole: frameworkRole,
      logGroup: frameworkLogs,
    });
    this.serviceToken = provider.serviceToken;
    const synchronous =
      'A custom-resource handler: CloudFormation calls it synchronously through the Provider, a few times per deployment';
    const logsReason =
      'CloudWatch Logs encrypts these groups at rest; they hold no secret (the handler logs key ids only, tested)';
    const iamApis =
      'It calls only the public IAM and Secrets Manager APIs; a VPC would add NAT or endpoints for nothing';
    for (const fn of [handler, provider.node.findChild('framework-onEvent')]) {
      acknowledgeFunction(fn, synchronous, iamApis);
    }
    for (const group of [handlerLogs, frameworkLogs]) {
      Validations.of(group).acknowledge({ id: 'NIST.800.53.R5-CloudWatchLogGroupEncrypted', reason: logsReason });
    }
    for (const role of [this.handlerRole, frameworkRole]) {
      Validations.of(role).acknowledge({
        id: 'NIST.800.53.R5-IAMNoInlinePolicy',
        reason: 'The role policy is generated per stack and scoped to the users and secrets of its credentials',
      });
    }
    // The only wildcards: a log group's streams (their names are made by Lambda) and the
    // versions of our own handler (the Provider invokes `function:name:*`).
    const logicalId = (c: Construct) => Stack.of(this).getLogicalId(c.node.defaultChild as CfnElement);
    Validations.of(this.handlerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId(handlerLogs)}.Arn>:log-stream:*]`,
      reason: 'Lambda names the log streams of its own log group; the grant is scoped to that group',
    });
    Validations.of(frameworkRole).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::<${logicalId(frameworkLogs)}.Arn>:log-stream:*]`,
        reason: 'Lambda names the log streams of its own log group; the grant is scoped to that group',
      },
      {
        id: `AwsSolutions-IAM5[Resource::<${logicalId(handler)}.Arn>:*]`,
        reason: 'The Provider framework invokes versions of this one handler function',
      },
    );
  }

  /** Lets the handlers manage keys of every user the construct makes in this stack (once). */
  allowOwnedUsers(): void {
    if (this.ownedUsersAllowed) return;
    this.ownedUsersAllowed = true;
    const stack = Stack.of(this);
    this.handlerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: KEY_ACTIONS,
        resources: [
          stack.formatArn({
            service: 'iam',
            region: '',
            resource: 'user',
            resourceName: `${userPath(stack).slice(1)}*`,
          }),
        ],
      }),
    );
    Validations.of(this.handlerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::${Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account}:user${userPath(stack)}*]`,
      reason:
        'Key actions on the users this construct makes in this stack (their IAM path): an old user stays manageable after a user swap or a move in the tree, so its keys never outlive it',
    });
  }

  /** The rotation function of the stack (same bundle and role as the handler), made on first use. */
  rotationFunction(): lambda.Function {
    if (this.rotation) return this.rotation;
    this.rotation = new lambda.Function(this, 'Rotation', {
      description: 'ses-relay: rotates SES SMTP access keys (Secrets Manager rotation function)',
      runtime: lambda.Runtime.NODEJS_24_X,
      code: lambda.Code.fromAsset(handlerAssetPath('smtp-credentials')),
      handler: 'index.rotationHandler',
      // testSecret waits for IAM to propagate the new key to SES: seconds, sometimes minutes.
      timeout: Duration.minutes(10),
      role: this.handlerRole,
      logGroup: this.handlerLogs,
    });
    acknowledgeFunction(
      this.rotation,
      'A rotation function: Secrets Manager calls it synchronously, four times per rotation',
      'It calls the public IAM and Secrets Manager APIs and the public SES SMTP endpoint; a VPC would add NAT or endpoints for nothing',
    );
    return this.rotation;
  }
}

function acknowledgeFunction(fn: Construct, synchronous: string, network: string): void {
  Validations.of(fn).acknowledge(
    { id: 'NIST.800.53.R5-LambdaConcurrency', reason: synchronous },
    { id: 'NIST.800.53.R5-LambdaDLQ', reason: `${synchronous}; there is no asynchronous invocation to dead-letter` },
    { id: 'NIST.800.53.R5-LambdaInsideVPC', reason: network },
  );
}

function lambdaRole(scope: Construct, id: string, logGroup: logs.ILogGroup): iam.Role {
  const role = new iam.Role(scope, id, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logGroup.logGroupArn, `${logGroup.logGroupArn}:log-stream:*`],
    }),
  );
  return role;
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
export class SesSmtpCredentials extends Construct {
  /** The IAM user that owns the access key. */
  readonly user: iam.IUser;
  /** The secret holding the SMTP user name and password. */
  readonly secret: secretsmanager.ISecret;
  /** The region the password is valid in. */
  readonly smtpRegion: string;
  /** The SMTP host. */
  readonly endpoint: string;
  /** The SMTP port. */
  readonly port: number;
  /**
   * The SMTP user name (the access key id) the custom resource last stored; not a secret. It
   * changes when CloudFormation changes the credentials; a rotation changes the key without
   * changing this attribute (relays read the secret, not this).
   */
  readonly accessKeyId: string;

  constructor(scope: Construct, id: string, props: SesSmtpCredentialsProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    this.smtpRegion = props.smtpRegion ?? stack.region;
    this.port = props.port ?? DEFAULT_SMTP_PORT;
    validateProp(this, 'smtpRegion', this.smtpRegion, assertRegion);
    validateProp(this, 'port', this.port, tlsModeOf);
    validateProp(this, 'endpoint', props.endpoint, (e) => assertHostName(e));
    if (!Token.isUnresolved(this.smtpRegion) && !hasSmtpEndpoint(this.smtpRegion)) {
      Annotations.of(this).addWarningV2(
        'ses-relay:unknownSmtpRegion',
        `SES is not known to offer SMTP in ${this.smtpRegion}; check the region`,
      );
    }
    this.endpoint = props.endpoint ?? `email-smtp.${this.smtpRegion}.amazonaws.com`;
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
      Endpoint: this.endpoint,
      Port: String(this.port),
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
