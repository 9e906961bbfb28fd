// The integration test's client (test/integ/integ.mail-relay.ts): a Lambda handler, inlined into
// the template, that sends one message over plain SMTP to the relay hub's load balancer from inside
// the VPC, as an application there would. Dependency-free (node:net) so that it fits inline.
// Returns the relay's reply to the message, e.g. "250 2.0.0 Ok: queued as 4Xk2p3".
const net = require('node:net');

/** One SMTP session: greeting, EHLO, MAIL, RCPT, DATA, the message, QUIT. */
function send({ host, port, from, to, subject, timeoutMs = 30000 }) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const steps = [
      [null, '220'],
      ['EHLO ses-relay-integ', '250'],
      [`MAIL FROM:<${from}>`, '250'],
      [`RCPT TO:<${to}>`, '250'],
      ['DATA', '354'],
      [
        [
          `From: ${from}`,
          `To: ${to}`,
          `Subject: ${subject}`,
          `Date: ${new Date().toUTCString()}`,
          `Message-ID: <${Date.now()}.${process.pid}@ses-relay-integ>`,
          '',
          'Sent through a ses-relay hub by its integration test.',
          '.',
        ].join('\r\n'),
        '250',
      ],
    ];
    let buffer = '';
    let reply = '';
    const fail = (why) => {
      socket.destroy();
      reject(new Error(why));
    };
    socket.setTimeout(timeoutMs, () => fail(`no reply from ${host}:${port} in ${timeoutMs} ms`));
    socket.on('error', (err) => fail(`${host}:${port}: ${err.message}`));
    socket.on('data', (chunk) => {
      if (steps.length === 0) return; // the reply to QUIT
      buffer += chunk.toString('latin1');
      // A reply ends with a line "NNN text"; "NNN-text" lines continue it.
      let end = buffer.search(/(^|\r\n)\d{3} [^\r\n]*\r\n/);
      while (end !== -1) {
        const last = buffer.slice(end).match(/^(?:\r\n)?(\d{3} [^\r\n]*)\r\n/);
        reply = last[1];
        buffer = buffer.slice(end + last[0].length);
        const [, expected] = steps.shift();
        if (!reply.startsWith(expected)) return fail(`expected ${expected}, got: ${reply}`);
        if (steps.length === 0) {
          socket.end('QUIT\r\n');
          return resolve(reply);
        }
        socket.write(`${steps[0][0]}\r\n`);
        end = buffer.search(/(^|\r\n)\d{3} [^\r\n]*\r\n/);
      }
    });
  });
}

exports.send = send;
exports.handler = async () =>
  send({
    host: process.env.RELAY_HOST,
    port: Number(process.env.RELAY_PORT),
    from: process.env.MAIL_FROM,
    to: process.env.MAIL_TO,
    subject: process.env.MAIL_SUBJECT,
  });
