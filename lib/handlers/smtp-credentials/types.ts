// The contract between the SesSmtpCredentials construct and its two handlers (the custom resource
// and the Secrets Manager rotation function). Nothing here is secret: the secret access key and
// the SMTP password never pass through CloudFormation (properties, Data, outputs), only through
// IAM -> handler -> Secrets Manager.

/** ResourceProperties the construct sends (CloudFormation passes every value as a string). */
export interface SmtpCredentialsProperties {
  /** IAM user that owns the access key. */
  readonly UserName: string;
  /** ARN of the secret the handler writes the credentials into. */
  readonly SecretArn: string;
  /** Region the SMTP password is derived for. */
  readonly SmtpRegion: string;
  /** SMTP endpoint host recorded in the secret for consumers. */
  readonly Endpoint: string;
  /** SMTP port recorded in the secret for consumers. */
  readonly Port: string;
  /**
   * 'true' when every access key of the user belongs to these credentials (a user the construct
   * made, or one it was explicitly allowed to manage): keys the secret does not name are deleted.
   * Absent or 'false': only keys the secret names are ever deleted.
   */
  readonly OwnsUserKeys?: string;
}

/** The only attributes the custom resource returns. */
export interface SmtpCredentialsData {
  readonly SecretArn: string;
  /** The access key the secret's current version holds (the SMTP user name). */
  readonly AccessKeyId: string;
}

/** The JSON object stored in each version of the secret (the boot script reads username and password). */
export interface StoredCredentials {
  readonly username: string;
  readonly password: string;
  readonly region: string;
  readonly endpoint: string;
  readonly port: number;
  /**
   * The physical id of the custom resource whose key this version holds (the id of the key that
   * resource made; a rotation copies it). Tells a Delete whether the secret still serves the
   * resource being deleted or another one. Absent in versions written before rotation existed:
   * the username is the physical id then.
   */
  readonly resource?: string;
}

/** The event Secrets Manager sends a rotation function, once per step. */
export interface RotationEvent {
  readonly Step: 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret';
  readonly SecretId: string;
  readonly ClientRequestToken: string;
}
