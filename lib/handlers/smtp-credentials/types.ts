// The contract between the SesSmtpCredentials construct and its custom-resource handler.
// Nothing here is secret: the secret access key and the SMTP password never pass through
// CloudFormation (properties, Data, outputs), only through IAM -> handler -> Secrets Manager.

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
}

/** The only attributes the custom resource returns. */
export interface SmtpCredentialsData {
  readonly SecretArn: string;
  readonly AccessKeyId: string;
}

/** The JSON object stored in the secret (what the boot script reads). */
export interface StoredCredentials {
  readonly username: string;
  readonly password: string;
  readonly region: string;
  readonly endpoint: string;
  readonly port: number;
}
