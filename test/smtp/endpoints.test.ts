import { hasSmtpEndpoint, isRegionName, SmtpTlsMode, smtpEndpoint, tlsModeOf } from '../../lib/smtp/endpoints';

describe('SES SMTP endpoint table', () => {
  test('regional endpoint', () => {
    expect(smtpEndpoint('eu-west-1')).toBe('email-smtp.eu-west-1.amazonaws.com');
    expect(smtpEndpoint('us-gov-west-1')).toBe('email-smtp.us-gov-west-1.amazonaws.com');
  });

  test('FIPS endpoint where SES has one, a clear refusal elsewhere', () => {
    expect(smtpEndpoint('us-east-1', true)).toBe('email-smtp-fips.us-east-1.amazonaws.com');
    expect(() => smtpEndpoint('eu-west-1', true)).toThrow(
      /no FIPS SMTP endpoint in eu-west-1; FIPS endpoints exist in .*us-east-1/,
    );
  });

  test('ports: STARTTLS on 25/587/2587, TLS wrapper on 465/2465, nothing else', () => {
    expect([25, 587, 2587].map(tlsModeOf)).toEqual([SmtpTlsMode.STARTTLS, SmtpTlsMode.STARTTLS, SmtpTlsMode.STARTTLS]);
    expect([465, 2465].map(tlsModeOf)).toEqual([SmtpTlsMode.WRAPPER, SmtpTlsMode.WRAPPER]);
    expect(() => tlsModeOf(2525)).toThrow(
      'invalid port 2525: SES SMTP listens on 25, 587, 2587 (STARTTLS) and 465, 2465 (TLS wrapper)',
    );
  });

  test('region names', () => {
    expect(['eu-west-1', 'us-gov-east-1', 'ap-southeast-5', 'us-isob-east-1'].every(isRegionName)).toBe(true);
    expect(['us west 2', 'eu-west', 'eu-west-1;rm', ''].some(isRegionName)).toBe(false);
    expect(hasSmtpEndpoint('eu-west-1')).toBe(true);
    expect(hasSmtpEndpoint('xx-nowhere-1')).toBe(false);
  });
});
