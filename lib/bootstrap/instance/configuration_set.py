"""ses-relay configuration set: a milter (spawn(8) runs one per connection) leaving exactly one
X-SES-CONFIGURATION-SET at the top of a message: the sender's own (the first) or NAME. Milters see
no header of attachments or MIME parts. Usage: configuration_set.py NAME (Python 3.6+).
"""

import struct
import sys

HEADER = b"x-ses-configuration-set"
# Add and change headers (libmilter's SMFIF_ADDHDRS 0x01, SMFIF_CHGHDRS 0x10); skip all but headers,
# with no reply to each (SMFIP_NOCONNECT 0x01, NOHELO 0x02, NOMAIL 0x04, NORCPT 0x08, NOBODY 0x10,
# NOEOH 0x40, NR_HDR 0x80, NOUNKNOWN 0x100, NODATA 0x200; Postfix 2.6+ offers them all).
ACTIONS = 0x11
SKIP = 0x3DF


def reply(stream, cmd, data=b""):
    stream.write(struct.pack(">I", len(data) + 1) + cmd + data)


def serve(stdin, stdout, name):
    seen = 0  # our header's occurrences in the message
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return
        data = stdin.read(struct.unpack(">I", head)[0])
        cmd, data = data[:1], data[1:]
        if cmd in (b"", b"Q"):
            return
        if cmd == b"O":
            protocol = struct.unpack(">I", data[8:12])[0]
            reply(stdout, b"O", struct.pack(">III", 6, ACTIONS, SKIP & protocol))
        elif cmd == b"L":
            seen += data.split(b"\0", 1)[0].lower() == HEADER
        elif cmd == b"E":
            if not seen:
                reply(stdout, b"h", b"X-SES-CONFIGURATION-SET\0" + name + b"\0")
            # The sender's others, the last first (the index counts headers of that name).
            for index in range(seen, 1, -1):
                reply(stdout, b"m", struct.pack(">I", index) + HEADER + b"\0\0")
            reply(stdout, b"c")
            seen = 0
        elif cmd in (b"A", b"K"):
            seen = 0
        elif cmd != b"D":
            reply(stdout, b"c")
        stdout.flush()


# On an error Postfix applies milter_default_action (tempfail: the client retries later).
if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer, sys.argv[1].encode())
