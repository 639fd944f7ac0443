# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The Postfix queue model: parsers, the selector and the summary.

Pure and stdlib only: nothing here runs a process or imports Ansible, so the
code can be tested alone on captured Postfix output.

A message is a plain dict with the keys of ``postqueue -j``::

    {"queue_name": "deferred", "queue_id": "32D2F160014",
     "arrival_time": 1795959474, "message_size": 389, "forced_expire": False,
     "sender": "alice@example.org",
     "recipients": [{"address": "bob@example.net",
                     "delay_reason": "connect to ...: Connection refused"}]}

``delay_reason`` is present only for a delayed recipient (as in Postfix).
Where text output cannot tell a value, the value is ``None``:
``queue_name`` of an unmarked text entry (deferred, incoming or maildrop),
``arrival_time`` printed as ``??`` by old Postfix versions, and ``sender`` of
an unreadable maildrop file listed by old versions.
"""

from __future__ import absolute_import, division, print_function

import datetime
import json
import math
import re
import sys
import time

from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError

QUEUE_NAMES = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")

# Text cannot tell these queues apart: an entry without a marker is in one of them.
UNMARKED_QUEUES = ("deferred", "incoming", "maildrop")

# The "safe" alphabet of long queue IDs (Postfix safe_ultostr.c): digits and
# letters without vowels. The inode part is base 51: the same without 'z',
# which separates it from the time part.
_SAFE52 = "0-9BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"
_SAFE51 = "0-9BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxy"
# Short ID: 5 hex digits of microseconds + the inode in hex (upper case).
# Long ID: 6+ chars of seconds + 4 of microseconds, 'z', the inode.
QUEUE_ID_PATTERN = r"(?:[0-9A-F]{6,21}|[%s]{10,20}z[%s]{1,16})" % (_SAFE52, _SAFE51)
_QUEUE_ID_RE = re.compile(r"\A%s\Z" % QUEUE_ID_PATTERN)

EMPTY_SENDER = "MAILER-DAEMON"

# qshape's default buckets: 5 minutes, doubling, 10 buckets.
AGE_BUCKET_MINUTES = (5, 10, 20, 40, 80, 160, 320, 640, 1280)


class QueueParseError(MailopsError):
    """Postfix output that the parser cannot place. Nothing is guessed."""

    def __init__(self, reason, line_number=None, line=None):
        self.reason = reason
        self.line_number = line_number
        self.line = line
        if line_number is None:
            text = reason
        else:
            shown = line if line is None or len(line) <= 200 else line[:200] + "..."
            text = "line %d: %s: %r" % (line_number, reason, shown)
        super(QueueParseError, self).__init__(text)


class SelectionError(MailopsError):
    """A selection option that cannot be used (bad regex, duration, size, queue)."""


def is_queue_id(value):
    """True when value has Postfix's queue ID syntax (short hex or long base-52)."""
    return isinstance(value, str) and _QUEUE_ID_RE.match(value) is not None


def domain_of(address):
    """The domain of an address, lower-cased; '' for a local address or MAILER-DAEMON."""
    if not address or "@" not in address:
        return ""
    return address.rpartition("@")[2].lower()


def _lines(text_or_lines):
    if isinstance(text_or_lines, str):
        return text_or_lines.splitlines()
    return text_or_lines


# ---------------------------------------------------------------- postqueue -j

_MESSAGE_KEYS = frozenset(("queue_name", "queue_id", "arrival_time", "message_size", "forced_expire",
                           "sender", "recipients"))
_RECIPIENT_KEYS = frozenset(("address", "delay_reason", "orig_address", "bounce_reason"))
_QUEUE_NAME_SET = frozenset(QUEUE_NAMES)


def _json_message(obj):
    """Validate one decoded postqueue -j object in place; return it, or raise ValueError.

    The hot path of a large listing: the object is kept (not copied) unless it
    carries members this model does not know, which are then dropped.
    """
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    try:
        queue_name, queue_id, arrival, size, sender, recipients = (
            obj["queue_name"], obj["queue_id"], obj["arrival_time"], obj["message_size"], obj["sender"],
            obj["recipients"])
    except KeyError as exc:
        raise ValueError("no %s member" % exc)
    if queue_name not in _QUEUE_NAME_SET:
        raise ValueError("unknown queue_name %r" % (queue_name,))
    if not is_queue_id(queue_id):
        raise ValueError("invalid queue_id %r" % (queue_id,))
    for key, value in (("arrival_time", arrival), ("message_size", size)):
        if value.__class__ is not int or value < 0:  # bool is not accepted either
            raise ValueError("invalid %s %r" % (key, value))
    forced_expire = obj.setdefault("forced_expire", False)  # absent before Postfix 3.5
    if forced_expire.__class__ is not bool:
        raise ValueError("invalid forced_expire %r" % (forced_expire,))
    if not isinstance(sender, str):
        raise ValueError("invalid sender %r" % (sender,))
    if not isinstance(recipients, list):
        raise ValueError("invalid recipients %r" % (recipients,))
    for recipient in recipients:
        if not isinstance(recipient, dict) or not isinstance(recipient.get("address"), str):
            raise ValueError("invalid recipient %r" % (recipient,))
        if len(recipient) > 1:
            for key, value in list(recipient.items()):
                if key not in _RECIPIENT_KEYS:
                    del recipient[key]
                elif not isinstance(value, str):
                    raise ValueError("invalid recipient %s %r" % (key, value))
    if len(obj) != len(_MESSAGE_KEYS):
        obj = dict((key, obj[key]) for key in _MESSAGE_KEYS)
    return obj


def iter_json_lines(text_or_lines):
    """Yield messages from ``postqueue -j`` output (one JSON object a line).

    Unknown members are ignored. Any line that is not a valid message object
    raises QueueParseError naming the line. An empty queue prints nothing.
    """
    decode = json.JSONDecoder().decode
    for number, line in enumerate(_lines(text_or_lines), 1):
        try:
            yield _json_message(decode(line))
        except ValueError as exc:
            # json.JSONDecodeError is a ValueError too
            raise QueueParseError("not a postqueue -j message (%s)" % exc, number, line)


def parse_json_lines(text_or_lines):
    """All messages of ``postqueue -j`` output, as a list."""
    return list(iter_json_lines(text_or_lines))


# ---------------------------------------------------------------- postqueue -p / mailq

_SHORT_HEADER_RE = re.compile(
    r"\A-Queue ID- +--Size-- +----Arrival Time---- +-Sender/Recipient-------\s*\Z")
_LONG_HEADER_RE = re.compile(
    r"\A----Queue ID----- +--Size-- +---Arrival Time---- +--Sender/Recipient------\s*\Z")
_EMPTY_TEXT = "Mail queue is empty"
_FOOTER_RE = re.compile(r"\A-- (\d+) Kbytes in (\d+) Requests?\.\Z", re.ASCII)
# First line of an entry: ID, status markers (active '*' or hold '!', then
# forced-expire '#'; Postfix 2.x padded the ID before its marker), size (may
# overflow its column), asctime() without the year (or '??' when unknown),
# sender. Fields are split on blanks, never on columns.
_ENTRY_RE = re.compile(
    r"\A(?P<id>[0-9A-Za-z]+) *(?P<marks>[*!]?#?) +(?P<size>\d+) +"
    r"(?P<date>(?P<dow>[A-Z][a-z]{2}) (?P<mon>[A-Z][a-z]{2}) (?P<day>[ 0-9]?[0-9]) "
    r"(?P<hms>\d\d:\d\d:\d\d)|\?\?) +(?P<sender>\S.*)\Z", re.ASCII)
# Postfix 2.x listed unreadable maildrop files this way.
_MAILDROP_UID_RE = re.compile(r"\A\(maildrop queue, sender UID (\d+)\)\Z", re.ASCII)
# A delay reason: padded to end at column 76 (or at column 0 when long).
# Quoted addresses never start with '(' (RFC 5322 quoting), so this is unambiguous.
_REASON_RE = re.compile(r"\A *\((?P<reason>.*)\)\Z")
_NO_REASON = "reason unavailable"
_MARKER_QUEUE = {"*": "active", "!": "hold"}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class _ArrivalClock:
    """Turns asctime() without a year back into epoch seconds.

    The year is the latest one, not after now (plus a day of clock skew), in
    which that date falls on the printed weekday: exact for mail younger than
    five years. Local time, as postqueue printed it. Results are cached: many
    messages share an arrival second.
    """

    def __init__(self, now):
        self.now = now
        self.this_year = time.localtime(now).tm_year
        self.cache = {}

    def epoch(self, dow, mon, day, hms):
        key = (dow, mon, day, hms)
        value = self.cache.get(key)
        if value is None:
            value = self.cache[key] = self._compute(dow, mon, day, hms)
        return value

    def _compute(self, dow, mon, day, hms):
        if dow not in _DAYS or mon not in _MONTHS:
            raise ValueError("unknown day or month name")
        weekday, month, mday = _DAYS.index(dow), _MONTHS.index(mon) + 1, int(day)
        hour, minute, second = (int(part) for part in hms.split(":"))
        if hour > 23 or minute > 59 or second > 61:
            raise ValueError("invalid time of day")
        for year in range(self.this_year + 1, self.this_year - 29, -1):
            try:
                if datetime.date(year, month, mday).weekday() != weekday:
                    continue
            except ValueError:  # Feb 29 of a common year, or day 31 of a short month
                continue
            epoch = int(time.mktime((year, month, mday, hour, minute, second, 0, 0, -1)))
            if epoch <= self.now + 86400:
                return epoch
        raise ValueError("no year has %s %s %s on a %s" % (mon, day, hms, dow))


def iter_mailq(text_or_lines, now=None):
    """Yield messages from ``postqueue -p`` / ``mailq`` output, any Postfix version.

    Fails closed: a line that is not the header, an entry's first line, a delay
    reason followed by a recipient, a recipient at the column the header
    implies, a separating blank line or the footer raises QueueParseError
    naming it; so does output that ends before the footer, or a footer whose
    request count differs from the entries read.
    """
    clock = _ArrivalClock(time.time() if now is None else now)
    pad = None          # the blanks before a recipient: 41, or 47 with long queue IDs
    current = None      # the entry being read
    pending = None      # a delay reason line not yet followed by its recipient
    reason = None       # the delay reason of the recipients that follow
    count = 0
    state = "start"     # start -> body -> blank -> (body | end)
    number = 0
    for number, line in enumerate(_lines(text_or_lines), 1):
        if line.endswith("\n"):
            line = line[:-1]
        if state == "body":
            if line.startswith(pad) and line[len(pad):len(pad) + 1] not in ("", " ", "("):
                if pending is not None:
                    reason, pending = (None if pending == _NO_REASON else pending), None
                recipient = {"address": line[len(pad):]}
                if reason is not None:
                    recipient["delay_reason"] = reason
                current["recipients"].append(recipient)
                continue
            match = _REASON_RE.match(line)
            if match and pending is None:
                pending = match.group("reason")
                continue
            if line or pending is not None:
                raise QueueParseError("not a recipient, a delay reason before one, or a blank line",
                                      number, line)
            yield current
            state = "blank"
            continue
        if state == "blank":
            match = _FOOTER_RE.match(line)
            if match:
                if int(match.group(2)) != count:
                    raise QueueParseError("the footer counts %s requests but %d entries were listed"
                                          % (match.group(2), count), number, line)
                state = "end"
                continue
        elif state == "start":
            if line == _EMPTY_TEXT:
                state = "end"
            elif _SHORT_HEADER_RE.match(line):
                pad, state = " " * 41, "blank"
            elif _LONG_HEADER_RE.match(line):
                pad, state = " " * 47, "blank"
            else:
                raise QueueParseError("expected the mailq header or '%s'" % _EMPTY_TEXT, number, line)
            continue
        elif state == "end":
            raise QueueParseError("text after the end of the listing", number, line)
        # state "blank", not the footer: the first line of the next entry
        current, pending, reason = _mailq_entry(line, number, clock), None, None
        count += 1
        state = "body"
    if state != "end":
        raise QueueParseError("the listing ended before its footer (truncated output?)")


def _mailq_entry(line, number, clock):
    match = _ENTRY_RE.match(line)
    if not match:
        raise QueueParseError("not the first line of a queue entry", number, line)
    queue_id = match.group("id")
    if not is_queue_id(queue_id):
        raise QueueParseError("invalid queue ID %r" % queue_id, number, line)
    marks = match.group("marks")
    queue_name = _MARKER_QUEUE.get(marks[:1])
    arrival = None
    if match.group("dow"):
        try:
            arrival = clock.epoch(match.group("dow"), match.group("mon"),
                                  match.group("day").strip(), match.group("hms"))
        except ValueError as exc:
            raise QueueParseError("invalid arrival time (%s)" % exc, number, line)
    sender = match.group("sender")
    if _MAILDROP_UID_RE.match(sender):
        sender, queue_name = None, "maildrop"
    return {
        "queue_name": queue_name,
        "queue_id": queue_id,
        "arrival_time": arrival,
        "message_size": int(match.group("size")),
        "forced_expire": marks.endswith("#"),
        "sender": sender,
        "recipients": [],
    }


def parse_mailq(text_or_lines, now=None):
    """All messages of ``postqueue -p`` / ``mailq`` output, as a list."""
    return list(iter_mailq(text_or_lines, now))


def addresses(message):
    """The recipients' addresses of a message, as parsed (dicts) or compact (strings)."""
    return [recipient if isinstance(recipient, str) else recipient["address"] for recipient in message["recipients"]]


def compact(message):
    """A selected message as an action keeps it until it acts: the fields it uses, the recipients as
    their addresses only, repeated strings shared. The delay reasons are most of a parsed listing's
    memory (100,000 deferred messages with three recipients each, as Postfix 3.7 lists them: 212 MiB
    parsed, 44 MiB compact, measured with tracemalloc)."""
    return {
        "queue_id": message["queue_id"],
        "queue_name": sys.intern(message["queue_name"]) if message["queue_name"] else message["queue_name"],
        "arrival_time": message["arrival_time"],
        "message_size": message["message_size"],
        "forced_expire": message["forced_expire"],
        "sender": sys.intern(message["sender"]),
        "recipients": tuple(sys.intern(address) for address in addresses(message)),
    }


def unique_messages(messages, stats=None):
    """Drop repeated listings of one message (a listing is not a snapshot).

    A message moved while postqueue reads the queue can be listed twice; it is
    the same message when queue ID and arrival time agree. The first listing is
    kept. ``stats['duplicates']`` counts what was dropped.
    """
    seen = set()
    for message in messages:
        key = (message["queue_id"], message["arrival_time"])
        if key in seen:
            if stats is not None:
                stats["duplicates"] = stats.get("duplicates", 0) + 1
            continue
        seen.add(key)
        yield message


# ---------------------------------------------------------------- selection

# ASCII digits only: str.isdigit() and a Unicode \d also accept '²' or '٣'.
_DIGITS_RE = re.compile(r"\A[0-9]+\Z")
_DURATION_RE = re.compile(r"\A(?:[0-9]+[smhdw])+\Z")
_DURATION_PART_RE = re.compile(r"([0-9]+)([smhdw])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE_RE = re.compile(r"\A([0-9]+)([kKmMgG]?)\Z")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def parse_duration(value, name="duration"):
    """Seconds from ``90s``, ``30m``, ``2h``, ``3d``, ``1w``, ``1h30m`` or plain seconds."""
    if isinstance(value, bool):
        raise SelectionError("%s: expected a duration like 90s, 30m, 2h or 3d, got %r" % (name, value))
    if isinstance(value, int):
        if value < 0:
            raise SelectionError("%s: a duration cannot be negative: %r" % (name, value))
        return value
    text = str(value).strip()
    if _DIGITS_RE.match(text):
        return int(text)
    if not _DURATION_RE.match(text):
        raise SelectionError("%s: expected a duration like 90s, 30m, 2h or 3d, got %r" % (name, value))
    return sum(int(amount) * _DURATION_UNITS[unit] for amount, unit in _DURATION_PART_RE.findall(text))


def parse_epoch(value, name="time"):
    """Seconds since the epoch (the host's clock), as a number or a string of digits."""
    if isinstance(value, bool):
        raise SelectionError("%s: expected seconds since the epoch, got %r" % (name, value))
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise SelectionError("%s: expected seconds since the epoch (a number), got %r" % (name, value))
    if math.isnan(seconds) or seconds < 0 or seconds > 1e11:
        raise SelectionError("%s: %r is not a time (seconds since the epoch)" % (name, value))
    return seconds


def parse_size(value, name="size"):
    """Bytes from ``2048``, ``10k``, ``5M`` or ``1G`` (binary multiples)."""
    if isinstance(value, bool):
        raise SelectionError("%s: expected a size like 2048, 10k or 5M, got %r" % (name, value))
    if isinstance(value, int):
        if value < 0:
            raise SelectionError("%s: a size cannot be negative: %r" % (name, value))
        return value
    match = _SIZE_RE.match(str(value).strip())
    if not match:
        raise SelectionError("%s: expected a size like 2048, 10k or 5M, got %r" % (name, value))
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


def _compile(pattern, name):
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise SelectionError("%s: invalid regular expression %r: %s" % (name, pattern, exc))


def _as_list(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


def _domain_matcher(domains, name):
    """Anchored, case-insensitive domain match; '.example.com' means its subdomains."""
    exact, parents = set(), []
    for domain in domains:
        domain = str(domain).strip().lower()
        if not domain or domain == "." or "@" in domain or " " in domain:
            raise SelectionError("%s: not a domain: %r" % (name, domain))
        if domain.startswith("."):
            parents.append(domain)
        else:
            exact.add(domain)
    parents = tuple(parents)

    def match(address):
        domain = domain_of(address)
        return domain in exact or (bool(parents) and domain.endswith(parents))
    return match


class Selector:
    """The selection options of both modules, as one predicate on messages.

    All given filters must match. Lists (queue_ids, queues, sender,
    sender_domain, recipient, recipient_domain) match when any element
    matches. Addresses and domains compare case-insensitively; domains are
    anchored (``example.com`` is not ``notexample.com`` nor
    ``mx.example.com``; ``.example.com`` matches subdomains); regexes must
    match the whole value and ignore case, like Postfix regexp tables.
    Recipient filters (recipient, recipient_domain, recipient_regex,
    reason_regex) match when any recipient matches, or every recipient with
    ``recipient_match='all'``. An age filter never matches a message whose
    arrival time is unknown. A message whose queue text cannot tell
    (queue_name None) matches ``queues`` naming deferred, incoming or maildrop.
    """

    OPTIONS = ("queue_ids", "queues", "sender", "sender_domain", "sender_regex",
               "recipient", "recipient_domain", "recipient_regex", "reason_regex",
               "older_than", "younger_than", "arrived_before", "arrived_after", "min_size", "max_size")

    def __init__(self, queue_ids=None, queues=None, sender=None, sender_domain=None,
                 sender_regex=None, recipient=None, recipient_domain=None,
                 recipient_regex=None, reason_regex=None, older_than=None,
                 younger_than=None, min_size=None, max_size=None,
                 recipient_match="any", now=None, arrived_before=None, arrived_after=None):
        if recipient_match not in ("any", "all"):
            raise SelectionError("recipient_match: expected 'any' or 'all', got %r" % (recipient_match,))
        self.now = time.time() if now is None else now
        self.given = {}
        message_tests, recipient_tests = [], []

        ids = _as_list(queue_ids)
        if ids is not None:
            bad = [qid for qid in ids if not is_queue_id(qid)]
            if bad:
                raise SelectionError(
                    "queue_ids: not a Postfix queue ID (short upper-case hex or long base-52): %s"
                    % ", ".join(repr(qid) for qid in bad[:10]))
            if not ids:
                raise SelectionError("queue_ids: an empty list selects nothing; omit the option instead")
            id_set = frozenset(ids)
            message_tests.append(lambda m: m["queue_id"] in id_set)
            self.given["queue_ids"] = sorted(id_set)

        names = _as_list(queues)
        if names is not None:
            unknown = [q for q in names if q not in QUEUE_NAMES]
            if unknown or not names:
                raise SelectionError("queues: expected names from %s, got %r" % (", ".join(QUEUE_NAMES), names))
            name_set = frozenset(names)
            unmarked_ok = bool(name_set.intersection(UNMARKED_QUEUES))
            message_tests.append(
                lambda m: m["queue_name"] in name_set or (m["queue_name"] is None and unmarked_ok))
            self.given["queues"] = sorted(name_set)

        senders = _as_list(sender)
        if senders is not None:
            sender_set = frozenset(str(s).lower() for s in senders)
            message_tests.append(lambda m: (m["sender"] or "").lower() in sender_set)
            self.given["sender"] = sorted(sender_set)

        sender_domains = _as_list(sender_domain)
        if sender_domains is not None:
            sender_domain_match = _domain_matcher(sender_domains, "sender_domain")
            message_tests.append(lambda m: sender_domain_match(m["sender"]))
            self.given["sender_domain"] = sender_domains

        if sender_regex is not None:
            sender_re = _compile(sender_regex, "sender_regex")
            message_tests.append(lambda m: sender_re.fullmatch(m["sender"] or "") is not None)
            self.given["sender_regex"] = sender_regex

        recipients = _as_list(recipient)
        if recipients is not None:
            recipient_set = frozenset(str(r).lower() for r in recipients)
            recipient_tests.append(lambda r: r["address"].lower() in recipient_set)
            self.given["recipient"] = sorted(recipient_set)

        recipient_domains = _as_list(recipient_domain)
        if recipient_domains is not None:
            recipient_domain_match = _domain_matcher(recipient_domains, "recipient_domain")
            recipient_tests.append(lambda r: recipient_domain_match(r["address"]))
            self.given["recipient_domain"] = recipient_domains

        if recipient_regex is not None:
            recipient_re = _compile(recipient_regex, "recipient_regex")
            recipient_tests.append(lambda r: recipient_re.fullmatch(r["address"]) is not None)
            self.given["recipient_regex"] = recipient_regex

        if reason_regex is not None:
            reason_re = _compile(reason_regex, "reason_regex")
            recipient_tests.append(
                lambda r: "delay_reason" in r and reason_re.fullmatch(r["delay_reason"]) is not None)
            self.given["reason_regex"] = reason_regex

        if older_than is not None:
            older = parse_duration(older_than, "older_than")
            cutoff_old = self.now - older
            message_tests.append(lambda m: m["arrival_time"] is not None and m["arrival_time"] <= cutoff_old)
            self.given["older_than"] = older
        if younger_than is not None:
            younger = parse_duration(younger_than, "younger_than")
            cutoff_young = self.now - younger
            message_tests.append(lambda m: m["arrival_time"] is not None and m["arrival_time"] > cutoff_young)
            self.given["younger_than"] = younger
        if older_than is not None and younger_than is not None and older >= younger:
            raise SelectionError("older_than (%ss) must be less than younger_than (%ss): nothing can match both"
                                 % (older, younger))

        if arrived_before is not None:
            before = parse_epoch(arrived_before, "arrived_before")
            message_tests.append(lambda m: m["arrival_time"] is not None and m["arrival_time"] < before)
            self.given["arrived_before"] = before
        if arrived_after is not None:
            after = parse_epoch(arrived_after, "arrived_after")
            message_tests.append(lambda m: m["arrival_time"] is not None and m["arrival_time"] >= after)
            self.given["arrived_after"] = after
        if arrived_before is not None and arrived_after is not None and after >= before:
            raise SelectionError("arrived_after (%s) must be earlier than arrived_before (%s): nothing can match both"
                                 % (after, before))

        if min_size is not None:
            low = parse_size(min_size, "min_size")
            message_tests.append(lambda m: m["message_size"] >= low)
            self.given["min_size"] = low
        if max_size is not None:
            high = parse_size(max_size, "max_size")
            message_tests.append(lambda m: m["message_size"] <= high)
            self.given["max_size"] = high
        if min_size is not None and max_size is not None and low > high:
            raise SelectionError("min_size (%d) is larger than max_size (%d): nothing can match" % (low, high))

        if recipient_tests:
            quantifier = all if recipient_match == "all" else any
            for test in recipient_tests:
                message_tests.append(
                    lambda m, test=test: bool(m["recipients"]) and quantifier(test(r) for r in m["recipients"]))
            self.given["recipient_match"] = recipient_match
        self._tests = tuple(message_tests)

    @classmethod
    def from_params(cls, params, now=None):
        """The selection of a module's parameters (the shared selection options)."""
        return cls(recipient_match=params["recipient_match"], now=now,
                   **dict((name, params[name]) for name in cls.OPTIONS))

    @classmethod
    def from_options(cls, options, name, now=None):
        """A nested selection (exclude, incident.junk, subsets), checked as strictly; an empty one is refused."""
        if not isinstance(options, dict):
            raise SelectionError("%s: expected a dictionary of selection options, got %r" % (name, options))
        unknown = sorted(set(options) - set(cls.OPTIONS) - {"recipient_match"})
        if unknown:
            raise SelectionError("%s: unknown selection option(s) %s (known: %s, recipient_match)"
                                 % (name, ", ".join(unknown), ", ".join(cls.OPTIONS)))
        try:
            selector = cls(recipient_match=options.get("recipient_match") or "any", now=now,
                           **dict((key, options.get(key)) for key in cls.OPTIONS))
        except SelectionError as exc:
            raise SelectionError("%s.%s" % (name, exc))
        if selector.is_empty:
            raise SelectionError("%s: no selection option given (it would match every message)" % name)
        return selector

    @property
    def is_empty(self):
        """True when no filter was given: the selection is the whole queue."""
        return not self._tests

    def matches(self, message):
        for test in self._tests:
            if not test(message):
                return False
        return True

    def select(self, messages):
        """Yield the messages that match."""
        if not self._tests:
            return iter(messages)
        return (m for m in messages if self.matches(m))


# ---------------------------------------------------------------- summary

def _bucket_index(age_minutes):
    for index, limit in enumerate(AGE_BUCKET_MINUTES):
        if age_minutes < limit:
            return index
    return len(AGE_BUCKET_MINUTES)


class Summary:
    """Counts a stream of messages; ``result()`` gives the summary dict.

    Incremental so that a large queue is summarised while it is read, without
    holding every message.
    """

    def __init__(self, now=None, top=10):
        if top < 1:
            raise SelectionError("summary top must be at least 1, got %r" % (top,))
        self.now = time.time() if now is None else now
        self.top = top
        self.total = 0
        self.bytes = 0
        self.recipients = 0
        self.by_queue = {}
        self.buckets = [0] * (len(AGE_BUCKET_MINUTES) + 1)
        self.age_unknown = 0
        self.forced_expire = 0
        self.sender_domains = {}
        self.senders = {}
        self.recipient_domains = {}
        self.reasons = {}
        self.oldest = None

    def add(self, message):
        size = message["message_size"]
        self.total += 1
        self.bytes += size
        queue = message["queue_name"] or "unknown"
        slot = self.by_queue.get(queue)
        if slot is None:
            slot = self.by_queue[queue] = [0, 0]
        slot[0] += 1
        slot[1] += size
        if message["forced_expire"]:
            self.forced_expire += 1
        arrival = message["arrival_time"]
        if arrival is None:
            self.age_unknown += 1
        else:
            self.buckets[_bucket_index((self.now - arrival) / 60.0)] += 1
            if self.oldest is None or arrival < self.oldest["arrival_time"]:
                self.oldest = message
        sender = message["sender"] if message["sender"] is not None else "(unknown)"
        _count(self.senders, sender, 1, size)
        _count(self.sender_domains, domain_of(sender) or _NO_DOMAIN.get(sender, "(local)"), 1, size)
        domains_seen, reasons_seen = set(), set()
        for recipient in message["recipients"]:
            self.recipients += 1
            domain = domain_of(recipient["address"]) or "(local)"
            _count(self.recipient_domains, domain, domain not in domains_seen, 0, 1)
            domains_seen.add(domain)
            reason = recipient.get("delay_reason")
            if reason is not None:
                _count(self.reasons, reason, reason not in reasons_seen, 0, 1)
                reasons_seen.add(reason)
        return message

    def result(self):
        labels = [str(limit) for limit in AGE_BUCKET_MINUTES] + ["%d+" % AGE_BUCKET_MINUTES[-1]]
        bounds = list(AGE_BUCKET_MINUTES) + [None]
        oldest = None
        if self.oldest is not None:
            oldest = {
                "queue_id": self.oldest["queue_id"],
                "queue_name": self.oldest["queue_name"],
                "arrival_time": self.oldest["arrival_time"],
                "age_seconds": max(0, int(self.now - self.oldest["arrival_time"])),
                "sender": self.oldest["sender"],
            }
        return {
            "total": self.total,
            "bytes": self.bytes,
            "recipients": self.recipients,
            "forced_expire": self.forced_expire,
            "by_queue": dict((name, {"messages": v[0], "bytes": v[1]})
                             for name, v in sorted(self.by_queue.items(), key=_queue_order)),
            "age_buckets": [{"label": label, "max_age_minutes": bound, "messages": count}
                            for label, bound, count in zip(labels, bounds, self.buckets)],
            "age_unknown": self.age_unknown,
            "oldest": oldest,
            "top_senders": _top(self.senders, self.top, "sender", ("messages", "bytes")),
            "top_sender_domains": _top(self.sender_domains, self.top, "domain", ("messages", "bytes")),
            "top_recipient_domains": _top(self.recipient_domains, self.top, "domain", ("messages", "recipients")),
            "top_reasons": _top(self.reasons, self.top, "reason", ("messages", "recipients")),
        }


# Rows for senders without a domain: the null sender keeps its name, like qshape.
_NO_DOMAIN = {EMPTY_SENDER: EMPTY_SENDER, "(unknown)": "(unknown)"}


def _queue_order(item):
    name = item[0]
    return (QUEUE_NAMES.index(name) if name in QUEUE_NAMES else len(QUEUE_NAMES), name)


def _count(table, key, messages, size, recipients=0):
    slot = table.get(key)
    if slot is None:
        slot = table[key] = [0, 0, 0]
    slot[0] += messages
    slot[1] += size
    slot[2] += recipients


def _top(table, top, label, fields):
    """The ``top`` rows of a count table, most messages first (then most recipients, then name)."""
    ranked = sorted(table.items(), key=lambda item: (-item[1][0], -item[1][2], item[0]))[:top]
    rows = []
    for key, values in ranked:
        row = {label: key}
        for field in fields:
            row[field] = values[_FIELD_SLOT[field]]
        rows.append(row)
    return rows


_FIELD_SLOT = {"messages": 0, "bytes": 1, "recipients": 2}


def summarize(messages, now=None, top=10):
    """The summary of a list of messages (see Summary)."""
    summary = Summary(now=now, top=top)
    for message in messages:
        summary.add(message)
    return summary.result()


def collect(messages, selector, limit, top=10, subsets=None, observe=None):
    """Read a listing once: select, summarise, keep the first ``limit`` selected messages.

    Returns a dict with ``summary`` (of the selected messages), ``messages``,
    ``listed`` (messages in the listing) and ``duplicates`` (repeats dropped).
    ``subsets`` ({name: Selector}) are summarised in the same pass, each over
    the whole listing (``subsets`` in the result); ``observe`` is called with
    every listed message.
    """
    if limit < 0:
        raise SelectionError("limit must be 0 or more, got %r" % (limit,))
    summary = Summary(now=selector.now, top=top)
    extra = dict((name, (subset, Summary(now=selector.now, top=top))) for name, subset in (subsets or {}).items())
    kept, stats, listed = [], {}, 0
    for message in unique_messages(messages, stats):
        listed += 1
        if observe is not None:
            observe(message)
        for subset, subset_summary in extra.values():
            if subset.matches(message):
                subset_summary.add(message)
        if selector.matches(message):
            summary.add(message)
            if len(kept) < limit:
                kept.append(message)
    result = {"summary": summary.result(), "messages": kept, "listed": listed,
              "duplicates": stats.get("duplicates", 0)}
    if subsets is not None:
        result["subsets"] = dict((name, subset_summary.result()) for name, (_s, subset_summary) in extra.items())
    return result
