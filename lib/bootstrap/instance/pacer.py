"""ses-relay pacer: at most RATE recipients to SES in any second. A socketmap server (spawn(8) runs
one per SMTP client) for smtp_reply_filter and smtp_delivery_status_filter; it answers "not found",
late: each transaction waits right before MAIL FROM until the last K starts, shared in STATE_FILE
by all SMTP clients, lie a window back (K recipients a window: RATE a second, or 1 in 1/RATE s),
each counted from when SES may have counted it: at its DATA command, where SES answers a message
over the rate.
Usage: pacer.py RATE STATE_FILE (Python 3.6+, standard library only).
"""

import fcntl
import os
import struct
import sys
import time

# Windows 0.5 % longer than 1 s (1/RATE below 1/s): SES's clock and ours.
GUARD = 0.005
# A turn is waited for on a connection SES holds open, after its AUTH or RSET reply, and SES is
# reported to close a connection idle for about 10 s (Postfix's socketmap client gives up after
# 100 s). A turn further off than this is not waited for: the reply that would start the
# transaction is answered with a 454 instead, so Postfix defers the mail, which takes a turn on a
# later try (a share below 1/8 per second: one delivery every 8 s or more).
MAX_WAIT = 8
DEFER = b"OK 454 4.7.0 ses-relay pacer: no turn within 8 s at this relay's share of the send rate"

# How Postfix ends the text of a recipient's status when SES refused its RCPT TO.
RCPT_REFUSED = b"(in reply to RCPT TO command)"

# A transaction's round trip runs from its turn (MAIL FROM goes out) to the reply to its DATA command
# (SES counts the message at DATA: every command waits for its reply, as SES offers no PIPELINING).
# The least round trip is that of this minute and the last (the least of a second or two missed a
# moment's faster path in bench/relay.ts at 200/s, and SES refused a message), once a window's
# replies and SAMPLES at least have come in it; until then a start counts from its reply (SES
# counted it before), as a burst's first round trips, under the load of its TLS handshakes, are no
# measure of the least (one counted from there let SES see 51 in a second at 50/s).
EPOCH = 60
SAMPLES = 20
# STATE_FILE: this header, then the last K bookings (a time each), then the last K starts (a time
# and when SES may have counted it, as of the least round trip; 0 until its DATA command's reply).
HEAD = struct.Struct("<8sQQQdddQQ")  # magic, K, bookings, starts; least round trip and replies: this epoch, last
MAGIC = b"sespace3"
ONE = struct.Struct("<d")
TWO = struct.Struct("<dd")


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


# The sliding window all SMTP clients share: a start waits until the K-th start before it lies a
# window back. That start counts from when SES may have counted it: its start plus how much longer
# its round trip (to its DATA command's reply) took than the least of late (a slow path or a further
# recipient reaches SES late), so the path's variations never put K + 1 recipients in one of SES's
# seconds.
class Schedule:
    def __init__(self, fd, rate):
        self.fd = fd
        self.k = max(1, int(rate))
        self.window = max(1.0, self.k / rate)
        self.span = self.window * (1 + GUARD)
        self.limit = 60 + 1000 / rate  # a schedule further ahead is a clock that went back

    def _get(self, form, offset):
        raw = os.pread(self.fd, form.size, offset)
        return form.unpack(raw) if len(raw) == form.size else (0.0,) * (form.size // 8)

    def _booking(self, n):
        return HEAD.size + 8 * (n % self.k)

    def _start(self, n):
        return HEAD.size + 8 * self.k + 16 * (n % self.k)

    # Applies step(head) -> result under the lock; head: [magic, K, bookings, starts, least this epoch,
    # least last epoch, epoch, replies this epoch, replies last epoch].
    def _locked(self, now, step):
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(self.fd, HEAD.size, 0)
            head = list(HEAD.unpack(raw)) if len(raw) == HEAD.size else []
            if head[:1] == [MAGIC] and head[1] != self.k:
                self._resize(head)
            # New, an earlier release's, or a clock gone back: a new schedule.
            if head[:2] != [MAGIC, self.k] or (
                head[2] and self._get(ONE, self._booking(head[2] - 1))[0] > now + self.limit
            ):
                os.ftruncate(self.fd, 0)
                head = [MAGIC, self.k, 0, 0, float("inf"), float("inf"), 0.0, 0, 0]
            result = step(head)
            os.pwrite(self.fd, HEAD.pack(*head), 0)
            return result
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    # Another rate's schedule (the rate changed; its SMTP clients may still deliver once): as many of
    # its last bookings and starts as this rate's window holds, laid out for this one.
    def _resize(self, head):
        k, bookings, starts = head[1:4]
        keep = min(k, self.k)
        booked = [(n, self._get(ONE, HEAD.size + 8 * (n % k))) for n in range(max(0, bookings - keep), bookings)]
        began = [(n, self._get(TWO, HEAD.size + 8 * k + 16 * (n % k))) for n in range(max(0, starts - keep), starts)]
        os.ftruncate(self.fd, 0)
        for n, at in booked:
            os.pwrite(self.fd, ONE.pack(*at), self._booking(n))
        for n, pair in began:
            os.pwrite(self.fd, TWO.pack(*pair), self._start(n))
        head[1] = self.k

    def _book(self, head, now):
        n = head[2]
        at = now if n < self.k else max(now, self._get(ONE, self._booking(n))[0] + self.span)
        os.pwrite(self.fd, ONE.pack(at), self._booking(n))
        head[2] = n + 1
        return at

    # Books a place in the window for a transaction; returns the seconds to sleep until it, or None
    # (nothing booked) when the place lies more than MAX_WAIT ahead.
    def book(self, now):
        def step(head):
            n = head[2]
            if n >= self.k and self._get(ONE, self._booking(n))[0] + self.span - now > MAX_WAIT:
                return None
            return self._book(head, now) - now

        return self._locked(now, step)

    # Starts a transaction now if the window allows it: (0, (start number, now)); else (seconds to
    # wait, None). A start whose reply has not come counts as SES counting it a window later.
    def start(self, now):
        def step(head):
            n = head[3]
            if n >= self.k:
                began, counted = self._get(TWO, self._start(n))
                at = (counted if counted >= began else began + self.window) + self.span
                if at > now:
                    return at - now, None
            os.pwrite(self.fd, TWO.pack(now, 0.0), self._start(n))
            head[3] = n + 1
            return 0, (n, now)

        return self._locked(now, step)

    # The reply to the DATA command of start number N (at BEGAN) came now: SES counted it at most
    # this round trip's excess over the least of late (a loaded host's or path's slowness counts).
    def replied(self, now, n, began):
        def step(head):
            epoch = now // EPOCH
            if epoch != head[6]:
                head[5], head[8] = (head[4], head[7]) if epoch == head[6] + 1 else (float("inf"), 0)
                head[4], head[6], head[7] = float("inf"), epoch, 0
            head[4], head[7] = min(head[4], now - began), head[7] + 1
            least = min(head[4], head[5]) if head[7] + head[8] >= max(self.k, SAMPLES) else 0
            self._counted_at(head, n, began, began + min(now - began - least, self.window))

        self._locked(now, step)

    # Records when SES may have counted start number N (at BEGAN), if the window still holds it.
    def _counted_at(self, head, n, began, counted):
        if head[3] - n <= self.k and self._get(TWO, self._start(n))[0] == began:
            os.pwrite(self.fd, TWO.pack(began, counted), self._start(n))

    # Start number N (at BEGAN) ended before its DATA command's reply (SES refused its MAIL FROM or
    # every recipient, and Postfix aborted it with RSET, whose reply brought the next turn), or was
    # a turn no MAIL FROM followed: SES did not count it at DATA; it holds its place a window from
    # its start.
    def ended(self, now, n, began):
        self._locked(now, lambda head: self._counted_at(head, n, began, began))

    # A recipient SES has counted already (a message's further recipient): it fills a place now.
    def counted(self, now):
        def step(head):
            self._book(head, now)
            os.pwrite(self.fd, TWO.pack(now, now), self._start(head[3]))
            head[3] += 1

        self._locked(now, step)


# Waits for a place in the window, then starts: returns (start number, start time), or None when
# the turn lies more than MAX_WAIT ahead (Postfix would have given up waiting).
def take_turn(schedule, clock, sleep):
    begun = clock()
    wait = schedule.book(begun)
    if wait is None:
        return None
    sleep(wait)
    while True:
        wait, turn = schedule.start(clock())
        if turn:
            return turn
        if clock() + wait - begun > MAX_WAIT:
            return None
        sleep(wait)


def serve(stdin, stdout, rate, state_file, clock=time.time, sleep=time.sleep):
    fd = os.open(state_file, os.O_RDWR | os.O_CREAT, 0o600)
    schedule = Schedule(fd, rate)
    armed = 1  # 250 replies to take as an RSET check
    covered = False  # the transaction's turn is there for its first recipient SES takes
    sent = None  # the start whose DATA command awaits its reply
    # Where the transaction is: b"mail" (its MAIL FROM's reply to come), b"rcpt" (recipients'),
    # b"data" (past DATA's 354), b"" (none under way or aborted); and whether SES took a recipient.
    phase, taken = b"", False
    try:
        while True:
            query = read_query(stdin)
            if query is None:
                return
            name, _, key = query.partition(b" ")
            code = key[:4]
            if name == b"reply":
                # DATA's 354 (a transaction whose connection is lost before it keeps counting as
                # if SES counted it a window after its start).
                if code == b"354 ":
                    if sent:
                        schedule.replied(clock(), *sent)
                        sent = None
                    # The transaction goes on (a recipient refused before it was no failure of the
                    # whole): the 250 ending the message is no RSET check.
                    armed, phase = 0, b"data"
                elif phase == b"mail":
                    phase = b"rcpt" if code[:1] == b"2" else b""
                elif phase == b"rcpt" and code[:1] == b"2" and not armed:  # armed: maybe the abort RSET's
                    taken = True
                # Before MAIL FROM: the AUTH reply, or the reply to the RSET checking a cached
                # connection (the first 250 after a delivery; two after a failure: Postfix may abort
                # it with RSET).
                if code == b"235 " or (code == b"250 " and armed):
                    if sent:  # no DATA since the last turn: that transaction was aborted with RSET
                        schedule.ended(clock(), *sent)
                    # After recipients were refused, this 250 may be a later recipient's, one SES
                    # took: it is never replaced; without a turn now, the next 250 tries again.
                    maybe_recipient = phase == b"rcpt"
                    sent = take_turn(schedule, clock, sleep)
                    covered = True
                    if sent is None and maybe_recipient:
                        stdout.write(b"9:NOTFOUND ,")
                        stdout.flush()
                        continue
                    phase, taken = b"mail", False
                    armed = armed - 1 if code == b"250 " else 0
                    # Without a turn, the delivery is deferred: it never reaches SES, takes no place.
                    if sent is None:
                        stdout.write(b"%d:%s," % (len(DEFER), DEFER))
                        stdout.flush()
                        continue
                elif code[:3] == b"220":  # a new connection
                    # Postfix may try another of SES's addresses in the same delivery, with no
                    # status between: a start whose DATA reply never came keeps counting as if
                    # SES counted it a window after it.
                    armed, sent, phase = 0, None, b""
            elif key.startswith(b"4.4."):  # never reached SES
                # A connection lost after its turn may have lost it after DATA went out: that
                # start keeps counting as if SES counted it a window after it.
                sent = None
                armed = max(armed, 1)
            else:
                # A recipient SES took: the first has the transaction's turn, each other a place
                # now. One it refused takes none.
                if key[:1] == b"2":
                    if not covered:
                        schedule.counted(clock())
                    covered = False
                # A recipient refused once another was taken (Postfix's text says which command
                # was refused): the transaction goes on to DATA. Otherwise the next 250 is an RSET
                # check; after a failure before DATA Postfix may first abort with an RSET, so two
                # are (a spare turn, never one too few: when no recipient was taken yet, a later
                # recipient's 250 cannot be told from that RSET's).
                if not (phase == b"rcpt" and taken and RCPT_REFUSED in key):
                    armed = max(armed, 2 if key[:1] != b"2" and phase != b"data" else 1)
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
