// The options of the Postfix bootstrap generator: its public types (jsii structs and enums).
/** What the boot script needs to know. */
export interface BootstrapOptions {
  /** The SES region whose SMTP endpoint relays the mail, e.g. `eu-west-1`. */
  readonly smtpRegion: string;
  /** Name or ARN of the Secrets Manager secret holding `{"username", "password"}`. */
  readonly secretId: string;
  /**
   * The region of the secret.
   * @default - the SES region
   */
  readonly secretRegion?: string;
  /**
   * SES SMTP port: 25, 587, 2587 (STARTTLS) or 465, 2465 (TLS wrapper).
   * @default 587
   */
  readonly smtpPort?: number;
  /**
   * Host name to connect to instead of the regional endpoint, e.g. an SES VPC endpoint's DNS name.
   * @default - `email-smtp.REGION.amazonaws.com` (or the FIPS host with `fips`)
   */
  readonly smtpEndpoint?: string;
  /**
   * Use SES's FIPS SMTP endpoint of the region.
   * @default false
   */
  readonly fips?: boolean;
  /**
   * IPv4 networks (CIDR) allowed to relay through this host. Empty: a null client that listens on
   * loopback only. Non-empty: a relay hub listening on all interfaces for loopback and these only.
   * @default - null client
   */
  readonly relayNetworks?: string[];
  /**
   * IPv4 networks (CIDR) of the other relays of this relay's group: on port 2525, and for them
   * only, it takes the queue of a relay that leaves (relaying through SES for them); port 25 still
   * relays for `relayNetworks` only.
   * @default - no hand-over port
   */
  readonly peerNetworks?: string[];
  /**
   * SES configuration set named in `X-SES-CONFIGURATION-SET` on every message that has none.
   * @default - no header added
   */
  readonly configurationSetName?: string;
  /**
   * Recipients per second all the relays keep to together (the account's SES maximum send rate,
   * which SES counts in recipients), at least 1. Every delivery waits for its turn (the pacer)
   * over a few reused TLS connections.
   * @default - read at boot with `aws sesv2 get-account` (the instance role needs
   * `ses:GetAccount`); 1 per second when it cannot be read
   */
  readonly maxSendRate?: number;
  /**
   * How many relays send at once with the account's send rate (`maxSendRate` or the quota read
   * at boot): each keeps to its share, rate / relayCount.
   * @default 1
   */
  readonly relayCount?: number;
  /**
   * The name of the Auto Scaling group's termination lifecycle hook. With it the relay, when its
   * group terminates it, stops accepting mail, delivers its queue (to SES, or to a peer relay of
   * the group when SES does not take it in time) and only then completes the lifecycle action; and
   * a relay that cannot deliver (AUTH refused, TLS failure, no credentials) takes itself out of
   * service and asks the group to replace it. (A self-contained script then carries the group's
   * jobs too and exceeds EC2's 16 KB: SesRelay ships the program from S3 instead.)
   * @default - not in a group with a hook: no drain, no self-replacement
   */
  readonly lifecycleHook?: string;
  /**
   * The CloudFormation stack and logical id of the resource (an Auto Scaling group with a
   * creation or update policy) that waits for each new relay's signal, given as
   * `STACK_NAME/LOGICAL_ID`: the relay signals success once Postfix is configured and an SMTP
   * AUTH against SES succeeded, failure otherwise.
   * @default - no signal
   */
  readonly signalResource?: string;
}

/** How the bootstrap is wrapped. */
export enum BootstrapFormat {
  /** A bash script (`#!/bin/bash`), usable as EC2 user data or run by hand as root. */
  SHELL = 'shell',
  /** A `#cloud-config` document that writes the script and runs it once. */
  CLOUD_CONFIG = 'cloud-config',
}
