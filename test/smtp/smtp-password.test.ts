import { SmtpPassword } from '../../lib/smtp/smtp-password';

describe('SmtpPassword.derive', () => {
  // Published vectors (the Terraform AWS provider's test table for aws_iam_access_key).
  test.each([
    ['eu-central-1', 'some+secret+key', 'BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2'],
    ['us-west-1', 'another+secret+key', 'BKVmjjMDFk/qqw8EROW99bjCS65PF8WKvK5bSr4Y6EqF'],
  ])('%s + %s', (region, key, expected) => {
    expect(SmtpPassword.derive(key, region)).toBe(expected);
  });

  test('the password depends on the region', () => {
    expect(SmtpPassword.derive('some+secret+key', 'eu-west-1')).not.toBe(
      SmtpPassword.derive('some+secret+key', 'eu-central-1'),
    );
  });

  test.each(['us west 2', '', 'EU-WEST-1', 'eu-west'])('refuses the malformed region %j', (region) => {
    expect(() => SmtpPassword.derive('some+secret+key', region)).toThrow(/region/);
  });

  test('refuses an empty key without echoing anything', () => {
    expect(() => SmtpPassword.derive('', 'eu-west-1')).toThrow('the secret access key must be a non-empty string');
  });

  test('an error about the key never contains the key', () => {
    const key = 'has white space+secret';
    expect(() => SmtpPassword.derive(key, 'eu-west-1')).toThrow(/^((?!has white space).)*$/);
  });
});
