# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The Postfix queue model: a queued message, queue names and IDs. PURE, stdlib only.

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
an unreadable maildrop file listed by old versions. The listings are parsed in
_listing, selected in _selection and summarised in _summary.
"""

from __future__ import absolute_import, division, print_function

import re
import sys
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

QUEUE_NAMES = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")

# Text cannot tell these queues apart: an entry without a marker is in one of them.
UNMARKED_QUEUES = ("deferred", "incoming", "maildrop")

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

# A message as postqueue -j lists it (recipients as dicts), or compact (recipients as addresses or pairs).
Message = Dict[str, Any]


def is_queue_id(value: Any) -> bool:
    """True when value has Postfix's queue ID syntax (short hex or long base-52)."""
    return isinstance(value, str) and _QUEUE_ID_RE.match(value) is not None


def queue_ids_in(names: Iterable[str]) -> List[str]:
    """The names (strings: a directory's entries) that have Postfix's queue ID syntax, in their order."""
    return list(filter(_QUEUE_ID_RE.match, names))


def domain_of(address: Optional[str]) -> str:
    """The domain of an address, lower-cased; '' for a local address or MAILER-DAEMON."""
    if not address or "@" not in address:
        return ""
    return address.rpartition("@")[2].lower()


def queue_order(name: str) -> Tuple[int, str]:
    """Sort key of a queue name in Postfix's order (unknown names last, by name)."""
    return (QUEUE_NAMES.index(name) if name in QUEUE_NAMES else len(QUEUE_NAMES), name)


def recipients_of(message: Message) -> Iterator[Tuple[str, Optional[str]]]:
    """(address, delay reason or None) for each recipient of a message, parsed or compact."""
    for recipient in message["recipients"]:
        if isinstance(recipient, str):
            yield recipient, None
        elif isinstance(recipient, tuple):
            yield recipient
        else:
            yield recipient["address"], recipient.get("delay_reason")


def addresses(message: Message) -> List[str]:
    """The recipients' addresses of a message, parsed or compact."""
    return [address for address, _reason in recipients_of(message)]


def _shared(text: Optional[str]) -> Optional[str]:
    return sys.intern(text) if text else text


def compact(message: Message, reasons: bool = False) -> Message:
    """A selected message as it is kept until it is acted on or summarised: the fields that are used, the recipients as
    their addresses only (with ``reasons``, (address, delay reason) pairs), repeated strings shared. The delay reasons
    are most of a parsed listing's memory (100,000 deferred messages with three recipients each, as Postfix 3.7 lists
    them: 212 MiB parsed, 44 MiB compact, measured with tracemalloc); shared, they take little more."""
    if message["recipients"] == ():
        return message      # compact already (on_disk, or compacted before): nothing in it to make smaller
    if not message["recipients"]:
        recipients = ()
    elif reasons:
        recipients = tuple((_shared(address), _shared(reason)) for address, reason in recipients_of(message))
    else:
        recipients = tuple(sys.intern(address) for address in addresses(message))
    return {
        "queue_id": message["queue_id"],
        "queue_name": _shared(message["queue_name"]),
        "arrival_time": message["arrival_time"],
        "message_size": message["message_size"],
        "forced_expire": message["forced_expire"],
        "sender": _shared(message["sender"]),
        "recipients": recipients,
    }


def on_disk(queue_name: str, queue_id: str) -> Message:
    """A message known only from its queue directory: its queue and ID; what a listing would add - arrival time,
    size, envelope - unknown (None, no recipients)."""
    return {"queue_id": queue_id, "queue_name": queue_name, "arrival_time": None, "message_size": None,
            "forced_expire": False, "sender": None, "recipients": ()}


def expanded(message: Message) -> Message:
    """A message in postqueue -j's form again (recipients as dicts), from any form."""
    recipients = []
    for address, reason in recipients_of(message):
        recipient = {"address": address}
        if reason is not None:
            recipient["delay_reason"] = reason
        recipients.append(recipient)
    return dict(message, recipients=recipients)


def unique_messages(messages: Iterable[Message], stats: Optional[Dict[str, int]] = None) -> Iterator[Message]:
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
