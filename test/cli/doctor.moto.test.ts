// The doctor's identity checks against moto server, through the real SDK and wire protocol:
// GetEmailIdentity (found, not found, address falling back to its domain, DKIM state, a default
// configuration set) and GetConfigurationSet. moto 5.1 has no GetAccount and answers a missing
// configuration set with SES v1's error instead of v2's NotFoundException, so the account checks
// and that case are covered by the SDK-mock tests in doctor.test.ts.
import { CreateConfigurationSetCommand, CreateEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { identityChecks } from '../../lib/cli/doctor';
import { describeMoto, type Moto, startMoto } from '../helpers/moto';

jest.setTimeout(60000);

describeMoto('doctor identity checks against moto', () => {
  let moto: Moto;
  let ses: SESv2Client;

  beforeAll(async () => {
    moto = await startMoto();
    ses = new SESv2Client({
      endpoint: moto.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    await ses.send(new CreateConfigurationSetCommand({ ConfigurationSetName: 'relay' }));
    // moto leaves every new identity unverified for sending, as SES does until DNS (or the
    // confirmation link of an address) proves it.
    await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: 'example.com', ConfigurationSetName: 'relay' }));
    await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: 'ops@example.net' }));
  });

  afterAll(() => moto?.stop());

  test('an address of a registered domain is checked through its domain', async () => {
    expect(await identityChecks(ses, 'eu-west-1', 'ops@example.com', 'relay')).toEqual([
      { check: 'identity', severity: 'fail', detail: 'example.com (DOMAIN) not verified yet' },
      { check: 'DKIM', severity: 'warn', detail: 'NOT_STARTED, signing disabled' },
      { check: 'default configuration set', severity: 'ok', detail: 'relay' },
      { check: 'configuration set', severity: 'ok', detail: 'relay exists' },
    ]);
  });

  test('an address registered on its own is checked as an address', async () => {
    expect(await identityChecks(ses, 'eu-west-1', 'ops@example.net')).toEqual([
      { check: 'identity', severity: 'fail', detail: 'ops@example.net (EMAIL_ADDRESS) not verified yet' },
      { check: 'DKIM', severity: 'warn', detail: 'NOT_STARTED, signing disabled' },
    ]);
  });

  test('an unknown identity is reported as missing in that region', async () => {
    expect(await identityChecks(ses, 'eu-west-1', 'ops@unknown.example.org')).toEqual([
      { check: 'identity', severity: 'fail', detail: 'ops@unknown.example.org is not an SES identity in eu-west-1' },
    ]);
  });
});
