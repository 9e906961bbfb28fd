"""ses-relay pacer: at most RATE recipients to SES in any second. A socketmap server (spawn(8) runs
one per SMTP client) for smtp_reply_filter and smtp_delivery_status_filter; it answers "not found",
late: a message's first recipient SES takes waits, right before the next command (the DATA command
where SES counts the message, or another RCPT TO), until the last K places, shared in STATE_FILE by
all SMTP clients, lie a window back (K recipients a window: RATE a second, or 1 in 1/RATE s), each
counted from when SES may have counted it; a further recipient takes a place if the window has room
then, or when its status comes. Each transaction also books its turn right before MAIL FROM, where
one too far off defers the mail instead.
Usage: pacer.py RATE STATE_FILE (Python 3.6+, standard library only).
"""

import fcntl
import os
import struct
import sys
import time

# Windows 0.5 % longer than 1 s (1/RATE below 1/s): SES's clock and ours.
GUARD = 0.005
# A place is waited for on a connection SES holds open, and SES is reported to close a connection
# idle for about 10 s (Postfix's socketmap client gives up after 100 s). A transaction whose place
# is further off than this is not begun: the reply before its MAIL FROM is answered with a 454
# instead, so Postfix defers the mail, which takes its place on a later try (a share below 1/8 per
# second: one delivery every 8 s or more).
MAX_WAIT = 8
DEFER = b"OK 454 4.7.0 ses-relay pacer: no turn within 8 s at this relay's share of the send rate"

# How Postfix ends the text of a recipient's status when SES refused its RCPT TO.
RCPT_REFUSED = b"(in reply to RCPT TO command)"

# A place's round trip runs from its start (the recipient's RCPT TO reply, after which the DATA
# command goes out when it is the last) to the reply to the DATA command: SES counts the message at
# DATA, and offers no PIPELINING, so every command waits for its reply. The least round trip is
# that of this minute and the last (the least of a second or two missed a moment's faster path in
# bench/relay.ts at 200/s, and SES refused a message), once a window's replies and SAMPLES at least
# have come in it; until then a place counts from its reply (SES counted it before), as a burst's
# first round trips, under the load of its TLS handshakes, are no measure of the least.
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


# The sliding window all SMTP clients share: a recipient's place (a start) comes once the K-th start
# before it lies a window back. That start counts from when SES may have counted it: its DATA
# command's reply less the least round trip of late (a slow path, or a recipient that waited for
# the next one's place, reaches SES late), so the path's variations never put K + 1 recipients in
# one of SES's seconds. Bookings (one a transaction, before its MAIL FROM) space the transactions
# out the same way, and tell which is too far off to begin.
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

    # When SES may have counted the K-th start before the next (one whose reply has not come: a
    # window after it began); 0 while fewer than K have started.
    def _oldest(self, head):
        n = head[3]
        if n < self.k:
            return 0.0
        began, counted = self._get(TWO, self._start(n))
        return counted if counted >= began else began + self.window

    # When the next start may come: a window after the K-th start before it.
    def _place(self, head):
        return self._oldest(head) + self.span if head[3] >= self.k else 0.0

    # When the next booking may come: a window after the K-th booking before it.
    def _booking_at(self, head, now):
        n = head[2]
        return now if n < self.k else max(now, self._get(ONE, self._booking(n))[0] + self.span)

    def _book(self, head, now):
        at = self._booking_at(head, now)
        os.pwrite(self.fd, ONE.pack(at), self._booking(head[2]))
        head[2] += 1
        return at

    # Books a place in the window for a transaction; returns the seconds to sleep until it, or None
    # (nothing booked) when it, or the next recipient's place, lies more than MAX_WAIT ahead. (It
    # does not sleep until that place: the recipient's reply, two round trips later, waits for it.)
    def book(self, now):
        def step(head):
            if max(self._booking_at(head, now), self._place(head)) - now > MAX_WAIT:
                return None
            return self._book(head, now) - now

        return self._locked(now, step)

    # Begins HELD again now (the places a message took at its recipients' replies, which SES counts
    # at its DATA command: a place whose reply has not come counts as SES counting it at most a
    # window after it began, so none may leave the window before DATA goes out); returns those the
    # window still holds.
    def _hold(self, head, now, held):
        again = [(n, now) for n, began in held if self._holds(head, n, began)]
        for n, _ in again:
            os.pwrite(self.fd, TWO.pack(now, 0.0), self._start(n))
        return again

    def hold(self, now, held):
        return self._locked(now, lambda head: self._hold(head, now, held))

    # Starts a recipient's place now if the window has room: (0, HELD and (start number, now));
    # else (seconds to wait, HELD). HELD begin again now either way.
    def start(self, now, held=()):
        def step(head):
            again = self._hold(head, now, held)
            at = self._place(head)
            if at > now:
                return at - now, again
            n = head[3]
            os.pwrite(self.fd, TWO.pack(now, 0.0), self._start(n))
            head[3] = n + 1
            return 0, again + [(n, now)]

        return self._locked(now, step)

    # The reply to the DATA command after STARTS (start number, time) came now: SES counted them at
    # most this round trip's excess over the least of late before it (a loaded host's or path's
    # slowness counts), and at most a window after each began.
    def replied(self, now, starts):
        def step(head):
            epoch = now // EPOCH
            if epoch != head[6]:
                head[5], head[8] = (head[4], head[7]) if epoch == head[6] + 1 else (float("inf"), 0)
                head[4], head[6], head[7] = float("inf"), epoch, 0
            head[4], head[7] = min(head[4], now - starts[-1][1]), head[7] + 1
            least = min(head[4], head[5]) if head[7] + head[8] >= max(self.k, SAMPLES) else 0
            for n, began in starts:
                self._counted_at(head, n, began, min(now - least, began + self.window))

        self._locked(now, step)

    # Whether the window still holds start number N, begun at BEGAN (not taken over since).
    def _holds(self, head, n, began):
        return head[3] - n <= self.k and self._get(TWO, self._start(n))[0] == began

    # Records when SES may have counted start number N (at BEGAN), if the window still holds it.
    def _counted_at(self, head, n, began, counted):
        if self._holds(head, n, began):
            os.pwrite(self.fd, TWO.pack(began, counted), self._start(n))

    # STARTS ended before a DATA command's reply (SES refused the DATA command, or Postfix aborted the
    # transaction with RSET): SES did not count them; each holds its place a window from its start.
    def ended(self, now, starts):
        def step(head):
            for n, began in starts:
                self._counted_at(head, n, began, began)

        self._locked(now, step)

    # A recipient SES has counted already, without a place before its DATA command (one past the
    # window's K, or without room for it then): it fills a place now, counting no earlier than the
    # place it takes over would have (that one may still be in SES's window).
    def counted(self, now):
        def step(head):
            self._book(head, now)
            os.pwrite(self.fd, TWO.pack(now, max(now, self._oldest(head))), self._start(head[3]))
            head[3] += 1

        self._locked(now, step)


# Books a transaction's place and sleeps until it: False (nothing booked) when it lies more than
# MAX_WAIT ahead (SES may close a connection idle that long).
def take_booking(schedule, clock, sleep):
    wait = schedule.book(clock())
    if wait is None:
        return False
    sleep(wait)
    return True


# Waits for the place of a message's first recipient in the window and starts it: (start number,
# start time), or None when it lies more than MAX_WAIT ahead (the booking found it nearer; another
# SMTP client's recipient took it since): the recipient then takes a place when its status comes.
def take_start(schedule, clock, sleep):
    begun = clock()
    while True:
        wait, starts = schedule.start(clock())
        if starts:
            return starts[0]
        if clock() + wait - begun > MAX_WAIT:
            return None
        sleep(wait)


def serve(stdin, stdout, rate, state_file, clock=time.time, sleep=time.sleep):
    fd = os.open(state_file, os.O_RDWR | os.O_CREAT, 0o600)
    schedule = Schedule(fd, rate)
    armed = 1  # 250 replies to take as an RSET check (a transaction begins: its booking)
    starts = []  # places taken since the last DATA command's reply: (start number, time)
    places = 0  # recipients this transaction has given a place, whose status has not come
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
                was = phase
                if code[:3] == b"220":  # a new connection
                    # Postfix may try another of SES's addresses in the same delivery, with no
                    # status between: places whose DATA reply never came keep counting as if SES
                    # counted them a window after they began.
                    armed, starts, phase = 0, [], b""
                # DATA's 354: the places taken before it count from here (those of a connection
                # lost before it keep counting as if SES counted them a window after they began).
                elif code == b"354 ":
                    if starts:
                        schedule.replied(clock(), starts)
                        starts = []
                    # The transaction goes on (a recipient refused before it was no failure of the
                    # whole): the 250 ending the message is no RSET check.
                    armed, phase = 0, b"data"
                elif phase == b"mail":
                    phase = b"rcpt" if code[:1] == b"2" else b""
                elif phase == b"rcpt" and code[:1] == b"2":
                    # A recipient SES took: its place, before the next command goes out (DATA, or
                    # the next recipient's RCPT TO); the first waits for it. A further one takes a
                    # place only if the window has room now (waiting for it while holding the
                    # others' could make two messages wait for each other); otherwise, and past the
                    # window's K (no second can hold them all), it takes one when its status comes.
                    # After recipients were refused, a 250 may also be Postfix's RSET aborting the
                    # transaction, or its next check: it is taken for a recipient all the same (a
                    # spare place), and never answered with the pacer's 454.
                    taken, armed = True, max(0, armed - 1)
                    if not starts:
                        start = take_start(schedule, clock, sleep)
                        starts = [start] if start else []
                    elif places < schedule.k:
                        starts = schedule.start(clock(), starts)[1]
                    else:
                        starts = schedule.hold(clock(), starts)
                    places = len(starts)
                elif phase == b"rcpt" and starts and code[:1] in (b"4", b"5"):
                    # A recipient refused: the others' places are held (one another SMTP client's
                    # recipient took over meanwhile is counted with its status).
                    starts = schedule.hold(clock(), starts)
                    places = len(starts)
                # Before MAIL FROM: the AUTH reply, or the reply to the RSET checking a cached
                # connection (the first 250 after a delivery; two after a failure: Postfix may abort
                # it with RSET).
                if was != b"rcpt" and (code == b"235 " or (code == b"250 " and armed)):
                    if starts:  # no DATA since they were taken: that transaction was aborted
                        schedule.ended(clock(), starts)
                        starts = []
                    phase, taken, places = b"mail", False, 0
                    armed = armed - 1 if code == b"250 " else 0
                    # Without a booking, the delivery is deferred: it never reaches SES. (Postfix may
                    # try another cached connection: its RSET check books again.)
                    if not take_booking(schedule, clock, sleep):
                        phase, armed = b"", max(armed, 1)
                        stdout.write(b"%d:%s," % (len(DEFER), DEFER))
                        stdout.flush()
                        continue
            else:
                # A recipient SES took (or one of a message past its DATA command, where SES may have
                # counted it whatever came after), without a place of its own: it takes one now.
                if key[:1] == b"2" or phase == b"data":
                    if places:
                        places -= 1
                    else:
                        schedule.counted(clock())
                if key.startswith(b"4.4."):  # no connection, or a connection lost
                    # Lost after a place was taken, maybe after DATA went out: that place keeps
                    # counting as if SES counted it a window after it began.
                    starts, phase, taken = [], b"", False
                    armed = max(armed, 1)
                else:
                    # Refused as a whole (its DATA command): no recipient's 250 follows, only RSETs.
                    if key[:1] != b"2" and phase == b"rcpt" and RCPT_REFUSED not in key:
                        phase = b""
                    # A recipient refused once another was taken (Postfix's text says which command
                    # was refused): the transaction goes on to DATA. Otherwise the next 250 is an
                    # RSET check; after a failure before DATA Postfix may first abort with an RSET,
                    # so two are (a spare booking, never one too few).
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
