// The per-stack custom-resource provider of SesSmtpCredentials (the handler that creates, rotates
// and deletes SES SMTP access keys, its Provider, roles and log groups) and the cdk-nag findings
// it acknowledges. One per stack, found with tryFindChild (never a static singleton).
import { type CfnElement, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { handlerAssetPath } from './assets';
import { nagResource } from './nag';

/**
 * The IAM path of users the construct makes, per stack: the handlers' key actions are scoped to
 * it, so a key of such a user stays manageable after a user swap or a move in the construct tree.
 */
export function userPath(stack: Stack): string {
  return Token.isUnresolved(stack.stackName) ? '/ses-relay/' : `/ses-relay/${stack.stackName}/`;
}

const PROVIDER_ID = 'SesRelaySmtpCredentialsProvider';
export const KEY_ACTIONS = [
  'iam:CreateAccessKey',
  'iam:DeleteAccessKey',
  'iam:GetAccessKeyLastUsed',
  'iam:ListAccessKeys',
];

/** The per-stack handler and Provider (found with tryFindChild: never a static singleton). */
export class CredentialsProvider extends Construct {
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
    const users = stack.formatArn({
      service: 'iam',
      region: '',
      resource: 'user',
      resourceName: `${userPath(stack).slice(1)}*`,
    });
    this.handlerRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: KEY_ACTIONS, resources: [users] }));
    Validations.of(this.handlerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, users)}]`,
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
