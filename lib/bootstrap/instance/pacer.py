"""ses-relay pacer: at most RATE recipients to SES in any second. A socketmap server (one for all
SMTP clients on the socket systemd passes, a thread each; else spawn(8) runs one per SMTP client)
for smtp_reply_filter and smtp_delivery_status_filter; it answers "not found",
late: each reply to a RCPT TO waits, right before the next command (the DATA command where SES
counts the message's recipients, or another RCPT TO), until the window shared in STATE_FILE by all
SMTP clients has room for all the recipients SES took so far (K recipients a window: RATE a second,
or 1 in 1/RATE s), each message counted from when SES may have counted it. Each transaction also
books its turn right before MAIL FROM, where one too far off defers the mail instead.
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
INF = float("inf")
# How soon a client waiting behind a message with no DATA reply yet looks again.
POLL = 0.02
DEFER = b"OK 454 4.7.0 ses-relay pacer: no turn within 8 s at this relay's share of the send rate"

# How Postfix ends the text of a recipient's status when SES refused its RCPT TO.
RCPT_REFUSED = b"(in reply to RCPT TO command)"

# A place's round trip runs from its start (the recipient's RCPT TO reply, after which the DATA
# command goes out when it is the last) to the reply to the DATA command: SES counts the message at
# DATA, and Postfix sends it no PIPELINING, so every command waits for its reply. The least round
# trip is that of this minute and the last, of a transaction's commands (MAIL FROM, RCPT TO, DATA:
# from the pacer's answer to the reply before it, to the reply's first line; not a connection's
# set-up, its TLS handshake or the message's text, nor a connection's time in the cache), once a
# window's DATA replies and SAMPLES round trips at least have come in it (the least of a second or
# two missed a moment's faster path in bench/relay.ts at 200/s, and SES refused a message); until
# then a place counts from its reply (SES counted it before), as a burst's first round trips, under
# the load of its TLS handshakes, are no measure of the least.
EPOCH = 60
SAMPLES = 20
# STATE_FILE: this header, then the waiters, then the last K bookings (a time each), then the
# ledger: a ring of groups (when it began, when SES may have counted it as of the least round trip
# or 0 until its DATA command's reply, and its recipients: 0 once moved).
# Header: magic, K, bookings, groups; least round trip and DATA replies: this epoch, last; the
# window; round trips: this epoch, last.
HEAD = struct.Struct("<8sQQQdddQQdQQ")
MAGIC = b"sespace6"
ONE = struct.Struct("<d")
GROUP = struct.Struct("<ddq")
# The SMTP clients waiting for room in the window (more than a relay's 50 connections, and as many
# of an older configuration's after a reload): when each one's message's first recipient came, its
# owner (its pacer's pid, or the shared pacer's pid << 32 | its number; 0: a free entry), its
# recipients, and when it looks again.
WAITER = struct.Struct("<dQQd")
WAITERS = 128
BASE = HEAD.size + WAITER.size * WAITERS


# Groups the ledger keeps at K: those of about three windows (a group counts its recipients, at
# most K a window), and as many moved; one that may still count is never written over.
def capacity(k):
    return 4 * k + 64


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


# The sliding window all SMTP clients share, as a ledger of the messages SES may still count in a
# window to come: each one's recipients (a group) and when SES may have counted them at the latest
# (its DATA command's reply less the least round trip of late: a slow path, or a message that
# waited, reaches SES late; a window after it began until then), so the path's variations never put
# K + 1 recipients in one of SES's seconds. A message's group comes, all of its recipients at once,
# when the window has room for them all; it begins again (moved to the ledger's end) at each reply
# of the message until its DATA command, so none leaves the window before SES counts it. Bookings
# (one a transaction, before its MAIL FROM) space the transactions out the same way, and tell
# which is too far off to begin.
class Schedule:
    def __init__(self, fd, rate, clock=None):
        self.fd = fd
        self.clock = clock  # read again under the lock for when a group begins (None: NOW as given)
        self.k = max(1, int(rate))
        self.window = max(1.0, self.k / rate)
        self.span = self.window * (1 + GUARD)
        # A group begun longer ago than this counts in no window to come.
        self.reach = self.span + self.window
        self.cap = capacity(self.k)
        self.limit = 60 + 1000 / rate  # a schedule further ahead is a clock that went back

    def _get(self, form, offset):
        raw = os.pread(self.fd, form.size, offset)
        return form.unpack(raw) if len(raw) == form.size else (0.0,) * (form.size // 8)

    def _booking(self, n):
        return BASE + 8 * (n % self.k)

    # Where group number N lies, at K (this schedule's unless given).
    def _group(self, n, k=0):
        k = k or self.k
        return BASE + 8 * k + GROUP.size * (n % capacity(k))

    # Applies step(head) -> result under the lock; head: [magic, K, bookings, groups, least round
    # trip this epoch, last epoch, epoch, DATA replies this epoch, last epoch, the window, round
    # trips this epoch, last epoch].
    def _locked(self, now, step):
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(self.fd, HEAD.size, 0)
            head = list(HEAD.unpack(raw)) if len(raw) == HEAD.size else []
            if head[:1] == [MAGIC] and head[1:2] + head[9:10] != [self.k, self.window]:
                self._resize(head)
            # New, an earlier release's, or a clock gone back: a new schedule. Unless new, no
            # transaction begins for a window (what went out in the last one is not known: as much
            # as it holds): its last K bookings now.
            if head[:2] != [MAGIC, self.k] or (
                head[2] and self._get(ONE, self._booking(head[2] - 1))[0] > now + self.limit
            ):
                os.ftruncate(self.fd, 0)
                os.pwrite(self.fd, ONE.pack(now) * self.k, BASE)
                head = [MAGIC, self.k, bool(raw) * self.k, 0, INF, INF, 0.0, 0, 0, self.window, 0, 0]
            result = step(head)
            os.pwrite(self.fd, HEAD.pack(*head), 0)
            return result
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    # Another rate's schedule (the rate changed; its SMTP clients may still deliver once): its last
    # groups, laid out for this one (its bookings are not carried over: the groups hold the places).
    # A group of a longer window begins later, by as much as it may count past this window after
    # its beginning (none later than the next): each still counts as long, and no group that counts
    # lies behind one begun too long ago for this window.
    def _resize(self, head):
        keep = min(capacity(head[1]), self.cap)
        ledger = [(n, self._get(GROUP, self._group(n, head[1]))) for n in range(max(0, head[3] - keep), head[3])]
        os.ftruncate(self.fd, 0)
        latest = 0.0
        for n, (began, counted, count) in ledger:
            bound = self._bound(began, counted, head[9])
            latest = max(latest, began, bound - self.window)
            os.pwrite(self.fd, GROUP.pack(latest, counted, count), self._group(n))
        head[1:3], head[9] = [self.k, 0], self.window

    # (when SES may have counted it at the latest, its recipients, the earliest that may become once
    # its DATA reply comes) of each group that may count in a window from NOW on, but group SKIP
    # (the asking message's own), newest first.
    def _recent(self, head, now, skip=-1):
        out = []
        n, low = head[3], max(0, head[3] - self.cap)
        while n > low:
            size = min(256, n - low, (n - 1) % self.cap + 1)  # one run of the ring
            raw = os.pread(self.fd, GROUP.size * size, self._group(n - size)).ljust(GROUP.size * size, b"\0")
            rows = list(GROUP.iter_unpack(raw))
            for i in range(size - 1, -1, -1):
                began, counted, count = rows[i]
                if began < now - self.reach:  # groups begin in the ledger's order (_begins)
                    return out
                bound = self._bound(began, counted)
                if count and n - size + i != skip and bound > now - self.span:
                    out.append((bound, count, bound if counted >= began else began))
            n -= size
        return out

    # When SES may have counted a group begun then, counted as of its DATA reply (0: none yet: a
    # WINDOW, this schedule's unless given, after it began).
    def _bound(self, began, counted, window=0):
        return counted if counted >= began else began + (window or self.window)

    # The waiters at NOW (not those a second past their waking: clients that never came back), and
    # where each is: (since, pid, recipients, wakes, index).
    def _waiters(self, now):
        raw = os.pread(self.fd, WAITER.size * WAITERS, HEAD.size).ljust(WAITER.size * WAITERS, b"\0")
        return [w + (i,) for i, w in enumerate(WAITER.iter_unpack(raw)) if w[1] and now <= w[3] + 1]

    # Enters an SMTP client among the WAITERS as ENTRY (since, pid, recipients, wakes), or takes
    # client OWNER out (ENTRY None): in its entry, or one free. With none, it waits unentered (no one
    # leaves it room).
    def _wait(self, waiters, owner, entry=None):
        held = {w[4] for w in waiters}
        slot = [w[4] for w in waiters if w[1] == owner] + [i for i in range(WAITERS) if entry and i not in held]
        for i in slot[:1]:
            os.pwrite(self.fd, WAITER.pack(*entry) if entry else bytes(WAITER.size), HEAD.size + WAITER.size * i)

    # When NEED recipients of SMTP client OWNER (its group so far, SKIP, not counted; its message's
    # first recipient came SINCE) may begin: once the window holds no more than K less them and less
    # those of the clients that wait for messages begun before (they go first, each woken in turn);
    # and whether that may come sooner (a group that holds it back has no DATA reply yet, and may
    # count from earlier once it comes, or move, any moment).
    def _earliest(self, head, now, need, owner, waiters, since, skip=-1):
        ahead = sorted(w for w in waiters if w[1] != owner and w[:2] < (since, owner))
        room = self.k - need - sum(w[2] for w in ahead)
        if room < 0 and ahead:
            room = self.k - need - ahead[0][2]
            if room < 0:  # the first waiter needs all the room: look again once it has woken
                return max(now + POLL, ahead[0][3] + 0.001), False
        taken, lows = 0, []
        for bound, count, low in sorted(self._recent(head, now, skip), reverse=True):
            taken += count
            lows.append(low)
            if taken > room:
                return max(now, bound + self.span), min(lows) < bound
        return now, False

    # When a group begins: the clock read under the lock (the ledger stays in the order its groups
    # began, however long an SMTP client waited for the lock after it read NOW).
    def _begins(self, now):
        return max(now, self.clock()) if self.clock else now

    # Whether GROUP (number, time begun, recipients) is still in the ledger as it was.
    def _valid(self, head, group):
        n, began, _ = group
        return head[3] - n <= self.cap and self._get(GROUP, self._group(n))[0] == began

    # When the next booking may come: a window after the K-th booking before it.
    def _booking_at(self, head, now):
        n = head[2]
        return now if n < self.k else max(now, self._get(ONE, self._booking(n))[0] + self.span)

    def _book(self, head, now):
        at = self._booking_at(head, now)
        os.pwrite(self.fd, ONE.pack(at), self._booking(head[2]))
        head[2] += 1
        return at

    # Books a place in the window for a transaction of SMTP client OWNER; returns the seconds to
    # sleep until it, or None (nothing booked) when it, or the next recipient's place, lies more
    # than MAX_WAIT ahead. (It does not sleep until that place: the recipient's reply, two round
    # trips later, waits for it.)
    def book(self, now, owner=0):
        def step(head):
            earliest = self._earliest(head, now, 1, owner, self._waiters(now), now)[0]
            if max(self._booking_at(head, now), earliest) - now > MAX_WAIT:
                return None
            return self._book(head, now) - now

        return self._locked(now, step)

    # A message's group (GROUP: its recipients so far, or None) with NEW more recipients, begun
    # now if the window has room for them all: (0, the group). Else (seconds to wait, GROUP), and
    # SMTP client OWNER waits among the waiters, after those whose message began before SINCE (when
    # this one's first recipient came: a message under way goes first), before the others; None
    # instead when the wait is more than LIMIT.
    def start(self, now, group=None, new=1, owner=0, limit=INF, since=None):
        first = since or now

        def step(head):
            mine = group if group and self._valid(head, group) else None
            need = (group[2] if group else 0) + new
            waiters = self._waiters(now)
            at, sooner = self._earliest(head, now, need, owner, waiters, first, mine[0] if mine else -1)
            last = head[3] - self.cap  # the group the next one takes the place of in the ledger
            if not (mine and mine[0] == head[3] - 1) and last >= 0:
                began, counted, count = self._get(GROUP, self._group(last))
                if count:
                    at = max(at, self._bound(began, counted) + self.span)
            if at > now and at - now > limit:
                self._wait(waiters, owner)
                return None
            if at > now:
                if sooner:  # look again then
                    at = min(at, now + POLL)
                self._wait(waiters, owner, (first, owner, need, at))
                if mine:  # SES counts none of it before the reply goes: it holds no place meanwhile
                    os.pwrite(self.fd, GROUP.pack(mine[1], 0.0, 0), self._group(mine[0]))
                return at - now, group
            self._wait(waiters, owner)
            if mine and mine[0] == head[3] - 1:
                n = mine[0]  # the newest group: it begins again where it is
            else:
                if mine:  # moved to the ledger's end: nothing left where it was
                    os.pwrite(self.fd, GROUP.pack(mine[1], 0.0, 0), self._group(mine[0]))
                n = head[3]
                head[3] += 1
            began = self._begins(now)
            os.pwrite(self.fd, GROUP.pack(began, 0.0, need), self._group(n))
            return 0, (n, began, need)

        return self._locked(now, step)

    # The reply to the DATA command after GROUP began came now: SES counted it at most this round
    # trip's excess over the least of late before it (a loaded host's or path's slowness counts),
    # and at most a window after it began. TRIPS: the SMTP client's round trips since it last told,
    # this one's included (how many, the least); by default this one alone (its own round trip,
    # from the group's start, is always among them: the least never puts a count before it).
    def replied(self, now, group, trips=(1, INF)):
        n, low = trips

        def step(head):
            epoch = now // EPOCH
            if epoch != head[6]:
                last = epoch == head[6] + 1
                head[5], head[8], head[11] = (head[4], head[7], head[10]) if last else (INF, 0, 0)
                head[4], head[6], head[7], head[10] = INF, epoch, 0, 0
            head[4], head[7], head[10] = min(head[4], now - group[1], low), head[7] + 1, head[10] + n
            enough = head[7] + head[8] >= self.k and head[10] + head[11] >= SAMPLES
            least = min(head[4], head[5]) if enough else 0
            self._counted_at(head, group, min(now - least, group[1] + self.window))

        self._locked(now, step)

    # Records when SES may have counted GROUP at the latest, if the ledger still holds it.
    def _counted_at(self, head, group, counted):
        if self._valid(head, group):
            os.pwrite(self.fd, GROUP.pack(group[1], counted, group[2]), self._group(group[0]))

    # GROUP ended before a DATA command's reply (SES refused the DATA command, or Postfix aborted the
    # transaction with RSET): SES did not count it; it holds its place a window from its start.
    def ended(self, now, group):
        self._locked(now, lambda head: self._counted_at(head, group, group[1]))

    # A recipient SES has counted already, without a place before its DATA command (one past the
    # window's K): the ledger counts it from now.
    def counted(self, now):
        def step(head):
            began = self._begins(now)
            os.pwrite(self.fd, GROUP.pack(began, began, 1), self._group(head[3]))
            head[3] += 1

        self._locked(now, step)


# Waits until the window has room for a message's recipients (GROUP, its group so far, and NEW
# more; its first came SINCE then) and begins them: the group, or None when at K = 1 (one recipient
# a transaction) its place lies more than MAX_WAIT ahead. Past Postfix's socketmap limit (100 s)
# nobody waits for the answer: TimeoutError (Postfix defers the delivery; no DATA went out).
def take_start(schedule, clock, sleep, group, new, owner, since):
    begun = clock()
    limit = MAX_WAIT if schedule.k == 1 and not group else 100
    while True:
        now = clock()
        got = schedule.start(now, group, new, owner, begun + limit - now, since)
        if got is None and limit > MAX_WAIT:
            raise TimeoutError("no room in the window for 100 s")
        if got is None:
            return None
        wait, placed = got
        if not wait:
            return placed
        sleep(wait)


# OWNER: the SMTP client this pacer serves, as the others see it (its pacer's pid under spawn).
def serve(stdin, stdout, rate, state_file, clock=time.time, sleep=time.sleep, owner=None):
    fd = os.open(state_file, os.O_RDWR | os.O_CREAT, 0o600)
    schedule = Schedule(fd, rate, clock)
    armed = 1  # 250 replies to take as an RSET check (a transaction begins: its booking)
    owner = owner or os.getpid()
    group = None  # the transaction's group in the window, until its DATA command's reply
    places = 0  # recipients this transaction has given a place, whose status has not come
    since = 0.0  # when the transaction's first recipient came
    # Where the transaction is: b"mail" (its MAIL FROM's reply to come), b"rcpt" (recipients'),
    # b"data" (past DATA's 354), b"" (none under way or aborted); and whether SES took a recipient.
    phase, taken = b"", False
    # When this pacer answered a reply (0: not since the next reply came), and the round
    # trips the schedule has not heard of (how many, the least, when the first came: those of a
    # minute before are dropped).
    answered, trips = 0.0, [0, INF, 0.0]
    try:
        while True:
            query = read_query(stdin)
            if query is None:
                return
            name, _, key = query.partition(b" ")
            code, answer = key[:4], b"NOTFOUND "
            if name == b"reply":
                was = phase
                # The round trip of a transaction's command (MAIL FROM, RCPT TO, DATA, or the RSET
                # after an abort, each sent once the pacer answered the reply before it).
                if answered and phase in (b"mail", b"rcpt") and code[:3] != b"220":
                    at = clock()
                    trips = trips if at - trips[2] < EPOCH else [0, INF, at]
                    trips[:2] = trips[0] + 1, min(trips[1], at - answered)
                answered = 0.0
                # A new connection:
                if code[:3] == b"220":
                    # Postfix may try another of SES's addresses in the same delivery, with no
                    # status between: places whose DATA reply never came keep counting as if SES
                    # counted them a window after they began.
                    armed, group, phase = 0, None, b""
                # DATA's 354: the places taken before it count from here (those of a connection
                # lost before it keep counting as if SES counted them a window after they began).
                elif code == b"354 ":
                    if group:
                        schedule.replied(clock(), group, trips[:2])
                        group, trips = None, [0, INF, 0.0]
                    # The transaction goes on (a recipient refused before it was no failure of the
                    # whole): the 250 ending the message is no RSET check.
                    armed, phase = 0, b"data"
                elif phase == b"mail":
                    phase = b"rcpt" if code[:1] == b"2" else b""
                elif phase == b"rcpt" and (code[:1] == b"2" or (group and code[:1] in (b"4", b"5"))):
                    # Each reply to a RCPT TO is held until the window has room for all the
                    # recipients SES took so far, right before the next command (DATA, where SES
                    # counts them, or the next RCPT TO): the message's group begins again (a
                    # recipient refused: with no more). Postfix sends at most K recipients a
                    # transaction (smtp_destination_recipient_limit); one past K (another
                    # configuration) is counted with its status. After recipients were refused, a
                    # 250 may also be Postfix's RSET aborting the transaction, or its next check: it
                    # is taken for a recipient all the same (a spare place).
                    new = 0
                    if code[:1] == b"2":
                        taken, armed = True, max(0, armed - 1)
                        new = 1 if places < schedule.k else 0
                    since = since if group else clock()
                    placed = take_start(schedule, clock, sleep, group, new, owner, since)
                    if placed:
                        group, places = placed, placed[2]
                    else:
                        # At K = 1, one recipient a transaction, whose place is more than MAX_WAIT
                        # off: the pacer's 454 in place of SES's 250 (no DATA follows, so SES never
                        # counts it; never over a further recipient: SES would still deliver to it
                        # with the others).
                        phase, taken, armed, answer = b"", False, max(armed, 2), DEFER
                # Before MAIL FROM: the AUTH reply, or the reply to the RSET checking a cached
                # connection (the first 250 after a delivery; two after a failure: Postfix may abort
                # it with RSET).
                if was != b"rcpt" and (code == b"235 " or (code == b"250 " and armed)):
                    if group:  # no DATA since it was taken: that transaction was aborted
                        schedule.ended(clock(), group)
                        group = None
                    phase, taken, places = b"mail", False, 0
                    armed = armed - 1 if code == b"250 " else 0
                    # Its booking, slept until; none when it (or the next place) lies more than
                    # MAX_WAIT ahead (SES may close a connection idle that long): the delivery is
                    # deferred, never reaching SES. (Postfix may try another cached connection: its
                    # RSET check books again.)
                    wait = schedule.book(clock(), owner)
                    if wait is None:
                        phase, armed, answer = b"", max(armed, 1), DEFER
                    else:
                        sleep(wait)
            else:
                # A recipient SES took (or one of a message past its DATA command, where SES may have
                # counted it whatever came after), without a place of its own: it takes one now.
                if key[:1] == b"2" or phase == b"data":
                    if places:
                        places -= 1
                    else:
                        schedule.counted(clock())
                # No connection, or a connection lost: after a place was taken, maybe after DATA
                # went out, that place keeps counting as if SES counted it a window after it began.
                if key.startswith(b"4.4."):
                    group, phase, taken = None, b"", False
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
            if name == b"reply":
                answered = clock()
            stdout.write(b"%d:%s," % (len(answer), answer))
            stdout.flush()
    finally:
        os.close(fd)


# One pacer for all SMTP clients, a thread each, on the socket systemd passes (ses-relay-pace.socket):
# no process started per client. Stopped (SIGTERM: a new rate or program, Postfix reloaded), it takes
# no more clients and ends once those it serves have gone (after their delivery): no transaction
# under way loses its place. New clients wait in the socket's queue for the next one.
def listen(rate, state_file):
    import signal
    import socket
    import threading

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, 3)

    def client(conn, owner):
        try:
            with conn, conn.makefile("rb") as stdin, conn.makefile("wb") as stdout:
                serve(stdin, stdout, rate, state_file, owner=owner)
        except (OSError, ValueError) as err:
            sys.stderr.write(f"pacer: {err}\n")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit())
    n = 0
    with server:
        while True:
            conn = server.accept()[0]
            n += 1
            # Above any pid: never another pacer's (spawn's) in the shared schedule.
            threading.Thread(target=client, args=(conn, os.getpid() << 32 | n)).start()


def main(argv):
    try:
        rate = float(argv[1])
        if len(argv) != 3 or not 0 < rate < INF:
            raise ValueError
    except (IndexError, ValueError):
        sys.stderr.write("usage: pacer.py RATE STATE_FILE (RATE: recipients per second, more than 0)\n")
        return 2
    try:
        if os.environ.get("LISTEN_PID") == str(os.getpid()) and os.environ.get("LISTEN_FDS") == "1":
            return listen(rate, argv[2])
        serve(sys.stdin.buffer, sys.stdout.buffer, rate, argv[2])
    except (OSError, ValueError) as err:
        # Postfix defers the delivery on a lookup error: no mail goes unpaced.
        sys.stderr.write(f"pacer: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
