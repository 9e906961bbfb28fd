// SesRelay: puts the generated Postfix bootstrap into the user data of instances, Auto Scaling
// groups or launch templates you own, and lets their role read the SMTP credentials.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotations, ArnFormat, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as ses from 'aws-cdk-lib/aws-ses';
import { Construct } from 'constructs';
import { programArchive } from './bootstrap/program';
import { renderS3Installer, USER_DATA_LIMIT } from './bootstrap/render';
import { type RelaySettings, type ResolvedBootstrapOptions, resolveRelaySettings } from './bootstrap/resolve';
import { nagResource } from './private/nag';
import type { RelayTarget } from './relay-target';
import type { ISesSmtpCredentials } from './ses-smtp-credentials';
import { tlsModeOf } from './smtp/endpoints';

export interface SesRelayProps {
  /** The credentials the relay sends with (`SesSmtpCredentials`, or `SesSmtpCredentials.fromSecret`). */
  readonly credentials: ISesSmtpCredentials;
  /**
   * The configuration set named in `X-SES-CONFIGURATION-SET` on every message that carries none
   * at its top level.
   * @default - no header added
   */
  readonly configurationSet?: ses.IConfigurationSet;
  /**
   * IPv4 networks (CIDR, /8 to /32) allowed to relay: a relay hub. None: a null client that
   * relays for the host itself (loopback) only.
   * @default - null client: loopback only
   */
  readonly relayNetworks?: string[];
  /**
   * Recipients per second (as SES counts them) all the configured instances keep to together:
   * the account's SES maximum send rate, 1 to 100000. Every delivery is paced to it (the pacer).
   * @default - read at boot from SES (`ses:GetAccount`, granted to the targets)
   */
  readonly maxSendRate?: number;
  /**
   * How many relays configured by this construct send at once, 1 to 1000: each keeps to
   * maxSendRate (or the quota read at boot) divided by this.
   * @default 1
   */
  readonly relayCount?: number;
  /**
   * IPv4 networks (CIDR) of the `group`'s instances: the other relays of the group hand a leaving
   * relay's queue to them on port 2525, open to these networks only (allow the instances' security
   * group to reach itself on 2525). Port 25 keeps relaying for `relayNetworks` only.
   * @default - none: a leaving relay has no peer to hand its queue to (a synth warning with `group`)
   */
  readonly peerNetworks?: string[];
  /**
   * The Auto Scaling group the configured instances run in. Its relays then leave without losing
   * mail: a termination lifecycle hook (`ses-relay-drain`) is added to the group, and a relay that
   * it terminates stops accepting mail, delivers its queue to SES, hands what SES does not take to
   * another relay of the group, and only then lets the instance go. A relay that cannot deliver
   * (AUTH refused, TLS not verified, no credentials) asks the group to replace it. When the group
   * waits for signals (its `signals` prop, which also lets its instances signal), each new relay
   * signals success only after an SMTP AUTH against SES succeeded. The configured instances' role
   * gets the few Auto Scaling, EC2 and CloudFormation calls this takes.
   * @default - instances on their own: no drain, no signal
   */
  readonly group?: autoscaling.AutoScalingGroup;
}

/** The termination lifecycle hook a relay completes once its queue is delivered. */
const DRAIN_HOOK = 'ses-relay-drain';

// Values that are CloudFormation tokens at synth time (the secret ARN, a generated configuration
// set name, an SES VPC endpoint's DNS name) are rendered as validated stand-ins, then replaced by the tokens in the text (CDK
// turns the result into Fn::Join). The tokens resolve to values of the same safe shape.
function standIn(value: string | undefined, placeholder: string, tokens: Map<string, string>): string | undefined {
  if (value === undefined || !Token.isUnresolved(value)) return value;
  tokens.set(placeholder, value);
  return placeholder;
}

/**
 * Configures Postfix on EC2 targets to relay through SES with the given credentials.
 *
 * @example
 * const relay = new SesRelay(this, 'Relay', { credentials });
 * relay.configure(RelayTarget.fromInstance(instance)); // or fromAutoScalingGroup, fromLaunchTemplate
 */
export class SesRelay extends Construct {
  /** The networks the relays relay for, as checked (canonical CIDRs). */
  readonly relayNetworks: string[];
  private readonly tokens = new Map<string, string>();
  private readonly credentials: ISesSmtpCredentials;
  private readonly resolved: ResolvedBootstrapOptions;
  private program?: s3assets.Asset;
  private readonly group?: autoscaling.AutoScalingGroup;

  constructor(scope: Construct, id: string, props: SesRelayProps) {
    super(scope, id);
    const { credentials } = props;
    this.credentials = credentials;
    this.group = props.group;
    // The SES side was checked where it entered (the credentials' props or fromSecret's
    // attributes); the script names the regions, so they must be known at synth time.
    const secretRegion = credentials.secret.env.region;
    for (const [what, value] of [
      ['credentials.smtpRegion', credentials.smtpRegion],
      ["the credentials' secret region", secretRegion],
    ]) {
      if (Token.isUnresolved(value)) {
        throw new Error(
          `${this.node.path}: ${what} is not known at synth time; give the stack an env with a region (or the credentials an smtpRegion): the boot script names it`,
        );
      }
    }
    let relay: RelaySettings;
    try {
      relay = resolveRelaySettings(
        {
          relayNetworks: props.relayNetworks,
          peerNetworks: props.peerNetworks,
          configurationSetName: standIn(
            props.configurationSet?.configurationSetName,
            'ses-relay-configuration-set-placeholder',
            this.tokens,
          ),
          maxSendRate: props.maxSendRate,
          relayCount: props.relayCount,
          ...(props.group ? this.groupOptions(props.group) : {}),
        },
        // The props have the options' names, but for the configuration set's.
        (o) => (o === 'configurationSetName' ? 'configurationSet.configurationSetName' : o),
      );
    } catch (err) {
      throw new Error(`${this.node.path}: ${(err as Error).message}`);
    }
    this.resolved = {
      smtpRegion: credentials.smtpRegion,
      smtpEndpoint: standIn(credentials.smtpEndpoint, 'ses-relay-endpoint.placeholder.invalid', this.tokens) as string,
      smtpPort: credentials.smtpPort,
      tlsMode: tlsModeOf(credentials.smtpPort),
      secretId: standIn(credentials.secret.secretArn, 'ses-relay-secret-arn-placeholder', this.tokens) as string,
      secretRegion,
      ...relay,
    };
    this.relayNetworks = relay.relayNetworks;
    if (props.group && relay.peerNetworks.length === 0) {
      Annotations.of(this).addWarningV2(
        'ses-relay:noPeerNetworks',
        "group without peerNetworks: a relay the group terminates cannot hand its queue to another relay; list the group's subnet CIDRs in peerNetworks",
      );
    }
  }

  /**
   * The settings for relays of a group: the drain hook (added to the group here) and, when the group
   * waits for signals, the resource to signal.
   */
  private groupOptions(group: autoscaling.AutoScalingGroup): { lifecycleHook: string; signalResource?: string } {
    // Inline in the group, not a LifecycleHook resource: that one depends on the group, so a stack
    // deletion would delete the hook first and terminate the relays without it.
    const cfn = group.node.defaultChild as autoscaling.CfnAutoScalingGroup;
    const hooks = cfn.lifecycleHookSpecificationList ?? [];
    if (!Array.isArray(hooks)) {
      throw new Error(
        `${this.node.path}: group: its lifecycle hooks are a token; add the drain hook (${DRAIN_HOOK}) yourself`,
      );
    }
    cfn.lifecycleHookSpecificationList = [
      ...hooks,
      {
        lifecycleHookName: DRAIN_HOOK,
        lifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        // The relay records a heartbeat every 2 minutes while its queue drains; the hook's overall
        // limit is 100 heartbeat timeouts (about 16 hours), room for 10,000 messages at any rate
        // SES grants. Should the relay die, the instance goes after 10 minutes anyway.
        heartbeatTimeout: 600,
        defaultResult: 'CONTINUE',
      },
    ];
    // The group's `signals` (a creation policy, and the rolling update waiting for them too).
    const waits = cfn.cfnOptions.creationPolicy?.resourceSignal !== undefined;
    const stack = Stack.of(group);
    return {
      lifecycleHook: DRAIN_HOOK,
      signalResource: waits
        ? standIn(
            `${stack.stackName}/${stack.getLogicalId(cfn)}`,
            'ses-relay-stack-name/SignalPlaceholder',
            this.tokens,
          )
        : undefined,
    };
  }

  /** What a relay of the group may ask of it: its own lifecycle and health, its peers, its signal. */
  private grantGroup(target: iam.IGrantable, group: autoscaling.AutoScalingGroup): void {
    const stack = Stack.of(group);
    const logicalId = stack.getLogicalId(group.node.defaultChild as autoscaling.CfnAutoScalingGroup);
    // The group's own name, or the one CloudFormation gives it (STACK-LOGICALID-SUFFIX): not a
    // reference to the group, which would make it depend on its own instances' role policy.
    const named = (group.node.defaultChild as autoscaling.CfnAutoScalingGroup).autoScalingGroupName;
    const name = named && !Token.isUnresolved(named) ? named : `${stack.stackName}-${logicalId}-*`;
    const groupArn = stack.formatArn({
      service: 'autoscaling',
      resource: 'autoScalingGroup',
      resourceName: `*:autoScalingGroupName/${name}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    iam.Grant.addToPrincipal({
      grantee: target,
      actions: [
        'autoscaling:CompleteLifecycleAction',
        'autoscaling:RecordLifecycleActionHeartbeat',
        'autoscaling:SetInstanceHealth',
      ],
      resourceArns: [groupArn],
    });
    // Describe calls have no resource to scope to.
    iam.Grant.addToPrincipal({
      grantee: target,
      actions: [
        'autoscaling:DescribeAutoScalingInstances',
        'autoscaling:DescribeAutoScalingGroups',
        'ec2:DescribeInstances',
      ],
      resourceArns: ['*'],
    });
    // cloudformation:SignalResource: the group's own `signals` grant it (on this stack's id) to
    // the role of its instances.
    const principal = target.grantPrincipal;
    if (Construct.isConstruct(principal)) {
      Validations.of(principal).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResource(group, groupArn)}]`,
        reason:
          "The relays' own group, by the name CloudFormation gives it (a reference would make the group depend on its instances' policy); the group id in its ARN is not known before it exists",
      });
    }
  }

  /** The instance program as an S3 asset, made once per relay (the same bytes, the same asset). */
  private programAsset(): s3assets.Asset {
    if (!this.program) {
      const dir = mkdtempSync(join(tmpdir(), 'ses-relay-program-'));
      const path = join(dir, 'ses-relay-program.tar.gz');
      writeFileSync(path, programArchive());
      this.program = new s3assets.Asset(this, 'Program', { path });
    }
    return this.program;
  }

  /**
   * The commands `configure` adds to a target's user data: a few lines that write the settings,
   * fetch the instance program from S3 with the instance role, check its SHA-256 and run it, in a
   * subshell so that their `set -e` and `umask` leave the target's own commands alone.
   */
  private userDataCommands(): string[] {
    const program = this.programAsset();
    const body = renderS3Installer(this.resolved, {
      bucket: program.s3BucketName,
      key: program.s3ObjectKey,
      region: Stack.of(this).region,
    });
    // Naming the access key makes a new key a new user data: an Auto Scaling group's update
    // policy then replaces its relays (imported credentials: the relays follow the secret).
    const key = this.credentials.accessKeyId;
    let text = [
      `# ses-relay (${this.node.path}): Postfix relaying through Amazon SES with the SMTP credentials ${key ? `of access key ${key}` : `of ${this.resolved.secretId}`}`,
      body,
    ];
    for (const [placeholder, token] of this.tokens) text = text.map((c) => c.split(placeholder).join(token));
    return text;
  }

  /**
   * Adds the bootstrap to the target's user data and lets the target's principal read the
   * credentials and the instance program.
   */
  configure(target: RelayTarget): void {
    target.userData.addCommands(...this.userDataCommands());
    // Only the one object: not the asset bucket's listing or its other objects.
    const program = this.programAsset();
    iam.Grant.addToPrincipal({
      grantee: target.grantee,
      actions: ['s3:GetObject'],
      resourceArns: [program.bucket.arnForObjects(program.s3ObjectKey)],
    });
    this.credentials.grantRead(target.grantee);
    const userData = target.userData;
    this.node.addValidation({ validate: () => userDataTooLarge(this, userData) });
    if (this.group) this.grantGroup(target.grantee, this.group);
    if (this.resolved.maxSendRate === 0) {
      // The script reads the account's send quota at boot; GetAccount has no resource to scope to.
      iam.Grant.addToPrincipal({ grantee: target.grantee, actions: ['ses:GetAccount'], resourceArns: ['*'] });
    }
  }
}

/**
 * An error when the user data, rendered, would exceed EC2's 16 KB: every literal byte counted, and
 * each token (an ARN, a bucket name) at a generous 256.
 */
function userDataTooLarge(scope: Construct, userData: ec2.UserData): string[] {
  const resolved = Stack.of(scope).resolve(userData.render());
  const size = (v: unknown): number =>
    typeof v === 'string'
      ? Buffer.byteLength(v)
      : v && typeof v === 'object' && 'Fn::Join' in v
        ? ((v as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1] ?? []).reduce<number>((n, p) => n + size(p), 0)
        : 256;
  const bytes = size(resolved);
  return bytes > USER_DATA_LIMIT
    ? [
        `${scope.node.path}: a configured target's user data would be about ${bytes} bytes; EC2 accepts at most ${USER_DATA_LIMIT}. Move your own commands into a file (an S3 asset) and keep the user data small`,
      ]
    : [];
}
