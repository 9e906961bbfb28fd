"""ses-relay pacer: keeps Postfix's deliveries to SES within the account's maximum send rate.

Postfix's SMTP client looks up the outcome of every delivery, one recipient at a time, in
smtp_delivery_status_filter; ours is this socketmap server, run by spawn(8) on the socket's
stdin and stdout (one process per SMTP client). It books each recipient a turn of 1/RATE s in a
schedule all its processes share (the time of the next free turn, in STATE_FILE under an
exclusive lock), and answers "not found", so no status changes, once that turn is over: until
then the SMTP client waits, and so does its next delivery. SES counts its send rate in recipients
too.
Usage: pacer.py RATE STATE_FILE (Python 3.6+, standard library only).
"""

import fcntl
import os
import sys
import time


# The next netstring's payload; None when Postfix has closed the connection.
def read_query(stream):
    head = b""
    while not head.endswith(b":"):
        c = stream.read(1)
        if not c and not head:
            return None
        if not (c.isdigit() or c == b":") or len(head) > 5:
            raise ValueError("bad netstring")
        head += c
    size = int(head[:-1])
    payload = stream.read(size)
    if len(payload) != size or stream.read(1) != b",":
        raise ValueError("truncated netstring")
    return payload


# Books the next free turn in the shared schedule; returns the seconds until it is over.
def book_turn(fd, interval, now):
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        try:
            free_at = float(os.pread(fd, 64, 0))
        except ValueError:
            free_at = 0.0
        # A turn a minute away is a clock that went back, not a queue: start again from now.
        if free_at > now + 60:
            free_at = now
        over = max(now, free_at) + interval
        os.pwrite(fd, (b"%.6f" % over).ljust(32), 0)
        return over - now
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


# Queries are "NAME STATUS TEXT". Mail that never reached SES (4.4.x: connection refused, timed
# out, no route) takes no turn.
def serve(stdin, stdout, rate, state_file, clock=time.time, sleep=time.sleep):
    fd = os.open(state_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            query = read_query(stdin)
            if query is None:
                return
            status = query.split(b" ", 2)[1:2]
            if not (status and status[0].startswith(b"4.4.")):
                sleep(book_turn(fd, 1.0 / rate, clock()))
            stdout.write(b"9:NOTFOUND ,")
            stdout.flush()
    finally:
        os.close(fd)


def main(argv):
    try:
        rate = float(argv[1])
        if len(argv) != 3 or not rate > 0:
            raise ValueError
    except (IndexError, ValueError):
        sys.stderr.write("usage: pacer.py RATE STATE_FILE (RATE: recipients per second, more than 0)\n")
        return 2
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer, rate, argv[2])
    except (OSError, ValueError) as err:
        # Postfix logs a lookup error and keeps the delivery status: mail flows, unpaced.
        sys.stderr.write(f"pacer: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
