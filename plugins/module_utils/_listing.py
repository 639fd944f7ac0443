# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The queue listings parsed: ``postqueue -j`` (JSON lines, Postfix 3.1 and later) and ``postqueue -p`` / mailq
text (any version). PURE, stdlib only; fail closed: a line the parser cannot place raises QueueParseError.
Messages are the dicts of _queue.
"""

from __future__ import absolute_import, division, print_function

import datetime
import json
import re
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._queue import QUEUE_NAMES, Message, is_queue_id

# A listing as text, or as its lines.
TextOrLines = Union[str, Iterable[str]]


class QueueParseError(MailopsError):
    """Postfix output that the parser cannot place. Nothing is guessed."""

    def __init__(self, reason: str, line_number: Optional[int] = None, line: Optional[str] = None) -> None:
        self.reason = reason
        self.line_number = line_number
        self.line = line
        if line_number is None:
            text = reason
        else:
            shown = line if line is None or len(line) <= 200 else line[:200] + "..."
            text = "line %d: %s: %r" % (line_number, reason, shown)
        super(QueueParseError, self).__init__(text)


def _lines(text_or_lines: TextOrLines) -> Iterable[str]:
    if isinstance(text_or_lines, str):
        return text_or_lines.splitlines()
    return text_or_lines


# ---------------------------------------------------------------- postqueue -j

_MESSAGE_KEYS = frozenset(("queue_name", "queue_id", "arrival_time", "message_size", "forced_expire",
                           "sender", "recipients"))
_RECIPIENT_KEYS = frozenset(("address", "delay_reason", "orig_address", "bounce_reason"))
_QUEUE_NAME_SET = frozenset(QUEUE_NAMES)


def _json_message(obj: Any) -> Message:
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
        obj = {key: obj[key] for key in _MESSAGE_KEYS}
    return obj


def iter_json_lines(text_or_lines: TextOrLines) -> Iterator[Message]:
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


def parse_json_lines(text_or_lines: TextOrLines) -> List[Message]:
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

    def __init__(self, now: float) -> None:
        self.now = now
        self.this_year = time.localtime(now).tm_year
        self.cache: Dict[Tuple[str, str, str, str], int] = {}

    def epoch(self, dow: str, mon: str, day: str, hms: str) -> int:
        key = (dow, mon, day, hms)
        value = self.cache.get(key)
        if value is None:
            value = self.cache[key] = self._compute(dow, mon, day, hms)
        return value

    def _compute(self, dow: str, mon: str, day: str, hms: str) -> int:
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


def iter_mailq(text_or_lines: TextOrLines, now: Optional[float] = None) -> Iterator[Message]:
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


def _mailq_entry(line: str, number: int, clock: "_ArrivalClock") -> Message:
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


def parse_mailq(text_or_lines: TextOrLines, now: Optional[float] = None) -> List[Message]:
    """All messages of ``postqueue -p`` / ``mailq`` output, as a list."""
    return list(iter_mailq(text_or_lines, now))
