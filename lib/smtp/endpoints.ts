// The SES SMTP endpoint table: which regions offer the SMTP interface, their host names
// (regional and FIPS), and the ports SES listens on. Pure data and lookups, internal to the
// package (the CLI, the generator, the constructs and the handler share it); not jsii API.

/** How a port starts TLS: STARTTLS after a plain greeting, or TLS from the first byte. */
export enum SmtpTlsMode {
  STARTTLS = 'starttls',
  WRAPPER = 'wrapper',
}

/** The ports the SES SMTP interface accepts, with how each starts TLS. */
export const SES_SMTP_PORTS: ReadonlyMap<number, SmtpTlsMode> = new Map([
  [25, SmtpTlsMode.STARTTLS],
  [587, SmtpTlsMode.STARTTLS],
  [2587, SmtpTlsMode.STARTTLS],
  [465, SmtpTlsMode.WRAPPER],
  [2465, SmtpTlsMode.WRAPPER],
]);

/** The default port: STARTTLS submission, open from EC2 without an unthrottling request. */
export const DEFAULT_SMTP_PORT = 587;

/** Regions with an SES SMTP endpoint, as the AWS General Reference lists them. */
export const SES_SMTP_REGIONS: readonly string[] = Object.freeze([
  'af-south-1',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ap-south-1',
  'ap-south-2',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-southeast-5',
  'ca-central-1',
  'ca-west-1',
  'eu-central-1',
  'eu-central-2',
  'eu-north-1',
  'eu-south-1',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'il-central-1',
  'me-central-1',
  'me-south-1',
  'sa-east-1',
  'us-east-1',
  'us-east-2',
  'us-gov-east-1',
  'us-gov-west-1',
  'us-west-1',
  'us-west-2',
]);

/** Regions where SES also offers a FIPS 140 validated SMTP endpoint. */
export const SES_SMTP_FIPS_REGIONS: readonly string[] = Object.freeze([
  'us-east-1',
  'us-east-2',
  'us-gov-east-1',
  'us-gov-west-1',
  'us-west-1',
  'us-west-2',
]);

const REGION_PATTERN = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$/;

/** True when the text is shaped like an AWS region name (e.g. `eu-west-1`). */
export function isRegionName(region: string): boolean {
  return REGION_PATTERN.test(region);
}

/** The region, checked: throws a message naming the value and the allowed shape when malformed. */
export function checkRegion(region: string | undefined): string {
  if (region === undefined || region === '') {
    throw new Error('a region is required, e.g. eu-west-1');
  }
  if (!isRegionName(region)) {
    throw new Error(
      `invalid region ${JSON.stringify(region)}: expected an AWS region name such as eu-west-1 (lower-case letters, digits and dashes)`,
    );
  }
  return region;
}

/** True when SES is known to offer its SMTP interface in the region. */
export function hasSmtpEndpoint(region: string): boolean {
  return SES_SMTP_REGIONS.includes(region);
}

/**
 * The SMTP host of SES in a region: `email-smtp.REGION.amazonaws.com`, or the FIPS host.
 * Throws when FIPS is asked for where SES has no FIPS SMTP endpoint.
 */
export function smtpEndpoint(region: string, fips = false): string {
  checkRegion(region);
  if (fips) {
    if (!SES_SMTP_FIPS_REGIONS.includes(region)) {
      throw new Error(
        `SES has no FIPS SMTP endpoint in ${region}; FIPS endpoints exist in ${SES_SMTP_FIPS_REGIONS.join(', ')}`,
      );
    }
    return `email-smtp-fips.${region}.amazonaws.com`;
  }
  return `email-smtp.${region}.amazonaws.com`;
}

/** The TLS mode of an SES SMTP port; throws listing the allowed ports for any other. */
export function tlsModeOf(port: number): SmtpTlsMode {
  const mode = SES_SMTP_PORTS.get(port);
  if (mode === undefined) {
    throw new Error(
      `invalid port ${JSON.stringify(port)}: SES SMTP listens on 25, 587, 2587 (STARTTLS) and 465, 2465 (TLS wrapper)`,
    );
  }
  return mode;
}
