// End-to-end: the configuration set on real Postfix (the rendered script run unmodified, see
// world.ts): exactly one X-SES-CONFIGURATION-SET at the top of every message relayed, the sender's
// own or ours; headers inside attachments and MIME parts are neither read nor changed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bootstrap } from '../../lib/bootstrap/bootstrap';
import { type Standin, World } from '../harness/world';
import { CREDS, describeWorld, options, SECRET_ID, SECRET_JSON } from './suite';

jest.setTimeout(180000);

const OPTIONS = options({ configurationSetName: 'relay-set' });
const HEADER = 'X-SES-CONFIGURATION-SET';

/** The values of a header at the top of a message (names in any case, folded lines unfolded). */
function topHeader(raw: string, name: string): string[] {
  const head = raw.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
  return head
    .split(/\r?\n/)
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(name.length + 1).trim());
}

const FORWARDED = `From: Forwarder <sender@example.com>
To: recipient@example.com
Subject: Fwd: the original
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain

See the message attached.
--outer
Content-Type: message/rfc822

From: Someone <someone@example.org>
Subject: the original
X-SES-CONFIGURATION-SET: inner-set
Message-ID: <inner@example.org>

The original text.
--outer--
`;

const PART_HEADER = `From: sender@example.com
Subject: a part with the header
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain
X-SES-CONFIGURATION-SET: part-set

Plain part.
--b1
Content-Type: text/html

<p>HTML part.</p>
--b1--
`;

describeWorld('the configuration set on real Postfix (relay-set)', () => {
  let world: World;
  let standin: Standin;
  let run: ReturnType<World['runScript']>;

  beforeAll(async () => {
    world = World.create();
    standin = await world.startStandin(CREDS);
    run = world.runScript(Bootstrap.render(OPTIONS), world.awsEnv(SECRET_ID, SECRET_JSON));
  });
  afterAll(() => world?.destroy());

  /** Submits a message with sendmail and returns it as the stand-in received it. */
  async function relay(message: string): Promise<string> {
    const before = standin.messages().length;
    world.sendmail('sender@example.com', ['recipient@example.com'], message);
    await standin.waitFor(() => standin.messages().length > before, 30000, 'delivery');
    return standin.messages()[before].raw.replace(/\r\n/g, '\n');
  }

  test('the script succeeds; the milter is on for SMTP and local submissions, nothing is routed by content', () => {
    expect(run.code).toBe(0);
    expect(world.exec(['postconf', '-h', 'smtpd_milters', 'non_smtpd_milters', 'header_checks']).stdout).toBe(
      'unix:private/ses-cset\nunix:private/ses-cset\n\n',
    );
    expect(world.exec(['postconf', '-M', 'ses-cset/unix']).stdout).toMatch(
      /spawn user=ses-relay argv=\/usr\/bin\/python3 -I -S \/usr\/local\/libexec\/ses-relay\/configuration_set\.py relay-set$/m,
    );
  });

  test.each([
    ['a plain message', 'From: sender@example.com\nSubject: plain\n\nHello.\n', ['relay-set']],
    [
      'a message with two Message-ID headers',
      'Message-ID: <a@x>\nMessage-ID: <b@x>\nSubject: two\n\nHi\n',
      ['relay-set'],
    ],
    [
      'a MIME multipart message',
      readFileSync(join(__dirname, '..', 'fixtures', 'mime-email.txt'), 'utf8').replace(
        /^X-SES-CONFIGURATION-SET:.*\n/m,
        '',
      ),
      ['relay-set'],
    ],
    [
      'the MIME example with its own configuration set',
      readFileSync(join(__dirname, '..', 'fixtures', 'mime-email.txt'), 'utf8'),
      ['ConfigSet'],
    ],
    ['its own header folded', `Subject: folded\n${HEADER}:\n\ttheirs\n\nHi\n`, ['theirs']],
    ['its own header in another letter case', 'Subject: case\nx-ses-configuration-set: theirs\n\nHi\n', ['theirs']],
    ['two of its own headers', `${HEADER}: first\nSubject: two own\n${HEADER}: second\n\nHi\n`, ['first']],
  ])('%s arrives with exactly one at the top', async (_what, message, expected) => {
    expect(topHeader(await relay(message), HEADER)).toEqual(expected);
  });

  test('a forwarded message/rfc822 attachment keeps its own header; the top gets ours', async () => {
    const raw = await relay(FORWARDED);
    expect(topHeader(raw, HEADER)).toEqual(['relay-set']);
    expect(raw).toContain('\nX-SES-CONFIGURATION-SET: inner-set\n');
    expect(raw.match(/X-SES-CONFIGURATION-SET/g)).toHaveLength(2);
  });

  test('a MIME part carrying the header keeps it unchanged; the top gets ours', async () => {
    const raw = await relay(PART_HEADER);
    expect(topHeader(raw, HEADER)).toEqual(['relay-set']);
    expect(raw).toContain('Content-Type: text/plain\nX-SES-CONFIGURATION-SET: part-set\n');
    expect(raw.match(/X-SES-CONFIGURATION-SET/g)).toHaveLength(2);
  });

  test('mail relayed over SMTP gets it too', async () => {
    const before = standin.messages().length;
    const r = world.exec([
      'swaks',
      '--server',
      '127.0.0.1',
      '--from',
      'app@example.com',
      '--to',
      'recipient@example.com',
      '--body',
      'over SMTP',
    ]);
    expect(r.code).toBe(0);
    await standin.waitFor(() => standin.messages().length > before, 30000, 'SMTP delivery');
    expect(topHeader(standin.messages()[before].raw, HEADER)).toEqual(['relay-set']);
  });

  test("Postfix's own bounce (SES refused the recipient) carries it too", async () => {
    const before = standin.messages().length;
    world.sendmail('sender@example.com', ['unverified@example.com'], 'Subject: to bounce\n\nHi\n');
    await standin.waitFor(() => standin.messages().length > before, 30000, 'the bounce');
    const bounce = standin.messages()[before];
    expect(bounce.from).toBe(''); // the null sender of a non-delivery report
    expect(bounce.to).toEqual(['sender@example.com']);
    expect(topHeader(bounce.raw, HEADER)).toEqual(['relay-set']);
  });

  test('a run without configuration set takes our milter away; mail then carries none', async () => {
    const again = world.runScript(
      Bootstrap.render({ ...OPTIONS, configurationSetName: undefined }),
      world.awsEnv(SECRET_ID, SECRET_JSON),
      'again.sh',
    );
    expect(again.code).toBe(0);
    expect(world.exec(['postconf', '-h', 'smtpd_milters', 'non_smtpd_milters']).stdout).toBe('\n\n');
    expect(topHeader(await relay('Subject: none\n\nHi\n'), HEADER)).toEqual([]);
  });
});
