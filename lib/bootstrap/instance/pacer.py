"""ses-relay pacer: at most RATE recipients to SES in any second. A socketmap server (spawn(8) runs
one per SMTP client) for smtp_reply_filter and smtp_delivery_status_filter; it answers "not found",
late: each transaction waits for its turn, shared in STATE_FILE, right before MAIL FROM.
Usage: pacer.py RATE STATE_FILE (Python 3.6+, standard library only).
"""

import fcntl
import os
import sys
import time

# Turns 1 % longer than 1/RATE absorb 10 ms of variation in when SES counts; starts are 0.5 %
# longer apart at least, to catch up after a late one.
GUARD = 0.01


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


# Applies step(free, last) -> (wait, free, last) to the schedule: the next free turn, the last start.
def locked(fd, now, rate, step):
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        try:
            free, last = (float(v) for v in os.pread(fd, 64, 0).split())
        except ValueError:
            free = last = 0.0
        if max(free, last) > now + 60 + 1000 / rate:  # a clock that went back, not a queue
            free, last = now, 0.0
        wait, free, last = step(free, last)
        os.pwrite(fd, (b"%.9f %.9f" % (free, last)).ljust(64), 0)
        return wait
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


# Books the next free turn; returns the seconds until it starts.
def book_turn(fd, rate, now):
    return locked(fd, now, rate, lambda free, last: (max(now, free) - now, max(now, free) + (1 + GUARD) / rate, last))


# Records a start at the earliest a gap after the last (one woken late must not start right behind
# the next), or returns the seconds to wait; a message's further recipient (SES counted them at
# once) never waits, but all next starts wait for it.
def start_at(fd, rate, now, wait=True):
    def step(free, last):
        at = max(now, last + (1 + GUARD / 2) / rate)
        if wait and at > now:
            return at - now, free, last
        return 0, max(free, at + (1 + GUARD) / rate), at

    return locked(fd, now, rate, step)


# Waits for a booked turn, then for the transaction's start.
def take_turn(fd, rate, clock, sleep):
    sleep(book_turn(fd, rate, clock()))
    while True:
        wait = start_at(fd, rate, clock())
        if not wait:
            return
        sleep(wait)


def serve(stdin, stdout, rate, state_file, clock=time.time, sleep=time.sleep):
    fd = os.open(state_file, os.O_RDWR | os.O_CREAT, 0o600)
    armed = 1  # 250 replies to take as an RSET check
    covered = False  # the delivery's first recipient had its turn
    try:
        while True:
            query = read_query(stdin)
            if query is None:
                return
            name, _, key = query.partition(b" ")
            code = key[:4]
            # Before MAIL FROM: the AUTH reply, or the reply to the RSET checking a cached connection
            # (the first 250 after a delivery; two after a failure: Postfix may abort it with RSET).
            if name == b"reply":
                if code == b"235 " or (code == b"250 " and armed):
                    take_turn(fd, rate, clock, sleep)
                    covered = True
                    armed = armed - 1 if code == b"250 " else 0
                elif code[:3] == b"220":  # a new connection
                    armed = 0
            elif key.startswith(b"4.4."):  # never reached SES
                armed = max(armed, 1)
            else:
                if not covered:
                    start_at(fd, rate, clock(), False)
                covered = False
                armed = max(armed, 1 if key[:1] == b"2" else 2)
            stdout.write(b"9:NOTFOUND ,")
            stdout.flush()
    finally:
        os.close(fd)


def main(argv):
    try:
        rate = float(argv[1])
        if len(argv) != 3 or not 0 < rate < float("inf"):
            raise ValueError
    except (IndexError, ValueError):
        sys.stderr.write("usage: pacer.py RATE STATE_FILE (RATE: recipients per second, more than 0)\n")
        return 2
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer, rate, argv[2])
    except (OSError, ValueError) as err:
        # Postfix defers the delivery on a lookup error: no mail goes unpaced.
        sys.stderr.write(f"pacer: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
