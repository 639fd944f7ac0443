# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The summary of a selection: counts and bytes by queue, qshape-style age buckets, the oldest message, top
senders, domains and delay reasons - read in one pass, while the listing streams. PURE, stdlib only.
"""

from __future__ import absolute_import, division, print_function

import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils._postcat import QueueFile
from ansible_collections.mailops.postfix.plugins.module_utils._queue import (
    EMPTY_SENDER, Message, compact, domain_of, expanded, queue_order, recipients_of, unique_messages)
from ansible_collections.mailops.postfix.plugins.module_utils._selection import ORIGIN, SelectionError, Selector, costliest

# read(messages, tier): (message, queue file, or None when the message is gone) for each - see _content.read.
Reader = Callable[[List[Message], str], Iterator[Tuple[Message, Optional[QueueFile]]]]

# qshape's default buckets: 5 minutes, doubling, 10 buckets.
AGE_BUCKET_MINUTES = (5, 10, 20, 40, 80, 160, 320, 640, 1280)


def _bucket_index(age_minutes: float) -> int:
    for index, limit in enumerate(AGE_BUCKET_MINUTES):
        if age_minutes < limit:
            return index
    return len(AGE_BUCKET_MINUTES)


class Summary:
    """Counts a stream of messages; ``result()`` gives the summary dict.

    Incremental so that a large queue is summarised while it is read, without
    holding every message.
    """

    def __init__(self, now: Optional[float] = None, top: int = 10) -> None:
        if top < 1:
            raise SelectionError("summary top must be at least 1, got %r" % (top,))
        self.now = time.time() if now is None else now
        self.top = top
        self.total = 0
        self.bytes = 0
        self.recipients = 0
        self.by_queue: Dict[str, List[int]] = {}
        self.buckets = [0] * (len(AGE_BUCKET_MINUTES) + 1)
        self.age_unknown = 0
        self.forced_expire = 0
        self.sender_domains: Dict[str, List[int]] = {}
        self.senders: Dict[str, List[int]] = {}
        self.recipient_domains: Dict[str, List[int]] = {}
        self.reasons: Dict[str, List[int]] = {}
        self.oldest: Optional[Message] = None

    def add(self, message: Message) -> Message:
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
        for address, reason in recipients_of(message):
            self.recipients += 1
            domain = domain_of(address) or "(local)"
            _count(self.recipient_domains, domain, domain not in domains_seen, 0, 1)
            domains_seen.add(domain)
            if reason is not None:
                _count(self.reasons, reason, reason not in reasons_seen, 0, 1)
                reasons_seen.add(reason)
        return message

    def result(self) -> Dict[str, Any]:
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
            "by_queue": {name: {"messages": v[0], "bytes": v[1]}
                         for name, v in sorted(self.by_queue.items(), key=lambda item: queue_order(item[0]))},
            "age_buckets": [{"label": label, "max_age_minutes": bound, "messages": count}
                            for label, bound, count in zip(labels, bounds, self.buckets)],
            "age_unknown": self.age_unknown,
            "oldest": oldest,
            "top_senders": _top(self.senders, self.top, "sender", ("messages", "bytes")),
            "top_sender_domains": _top(self.sender_domains, self.top, "domain", ("messages", "bytes")),
            "top_recipient_domains": _top(self.recipient_domains, self.top, "domain", ("messages", "recipients")),
            "top_reasons": _top(self.reasons, self.top, "reason", ("messages", "recipients")),
        }


# A listed message waits for its queue file only to say who is sending (collect: may be left out of a sample).
_INSPECT = object()
# Rows for senders without a domain: the null sender keeps its name, like qshape.
_NO_DOMAIN = {EMPTY_SENDER: EMPTY_SENDER, "(unknown)": "(unknown)"}


def _count(table: Dict[Any, List[int]], key: Any, messages: int, size: int, recipients: int = 0) -> None:
    slot = table.get(key)
    if slot is None:
        slot = table[key] = [0, 0, 0]
    slot[0] += messages
    slot[1] += size
    slot[2] += recipients


def _top(table: Dict[Any, List[int]], top: int, label: str, fields: Sequence[str]) -> List[Dict[str, Any]]:
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


def summarize(messages: Iterable[Message], now: Optional[float] = None, top: int = 10) -> Dict[str, Any]:
    """The summary of a list of messages (see Summary)."""
    summary = Summary(now=now, top=top)
    for message in messages:
        summary.add(message)
    return summary.result()


class Origins:
    """Who is sending, over a selection: messages and bytes per way in, SASL login, original client and - with the
    headers read - local uid and Subject. What an admin needs to write the junk's selection."""

    def __init__(self, top: int = 10, headers: bool = False) -> None:
        self.top = top
        self.headers = headers
        self.read = 0
        self.sampled_from: Optional[int] = None     # an even sample of this many selected messages was read
        self.tables: Dict[str, Dict[Any, List[int]]] = {name: {} for name in ("origins", "sasl_usernames", "clients", "local_uids", "subjects")}

    def add(self, message: Message, queue_file: QueueFile) -> None:
        size = message["message_size"]
        self.read += 1
        tables = self.tables
        _count(tables["origins"], queue_file["origin"], 1, size)
        login = queue_file["attributes"].get("sasl_username")
        if login:
            _count(tables["sasl_usernames"], login, 1, size)
        client = queue_file["attributes"].get("log_client_address") or queue_file["attributes"].get("client_address")
        if client:
            _count(tables["clients"], client, 1, size)
        if self.headers:
            if queue_file["local_uid"] is not None:
                _count(tables["local_uids"], queue_file["local_uid"], 1, size)
            subjects = queue_file["headers"].get("subject")
            _count(tables["subjects"], subjects[0][0][:200] if subjects else "(no Subject)", 1, size)

    def result(self) -> Dict[str, Any]:
        fields = ("messages", "bytes")
        result: Dict[str, Any] = {"read": self.read}
        if self.sampled_from is not None:
            result["sampled_from"] = self.sampled_from
        result.update({"origins": _top(self.tables["origins"], len(self.tables["origins"]) or 1, "origin", fields),
                       "top_sasl_usernames": _top(self.tables["sasl_usernames"], self.top, "sasl_username", fields),
                       "top_clients": _top(self.tables["clients"], self.top, "client_address", fields)})
        if self.headers:
            result["top_local_uids"] = _top(self.tables["local_uids"], self.top, "local_uid", fields)
            result["top_subjects"] = _top(self.tables["subjects"], self.top, "subject", fields)
        return result


def even_sample(count: int, size: int) -> Set[int]:
    """SIZE of the indexes 0..COUNT-1, evenly spaced (every COUNT/SIZE-th, the first included); all when SIZE is 0
    or not smaller than COUNT. Deterministic: the same listing gives the same sample."""
    if not size or size >= count:
        return set(range(count))
    return {index * count // size for index in range(size)}


def collect(messages: Iterable[Message], selector: Selector, limit: int, top: int = 10,
            subsets: Optional[Dict[str, Selector]] = None, observe: Optional[Callable[[Message], None]] = None,
            read: Optional[Reader] = None, inspect: Optional[str] = None, inspect_max: int = 0,
            remember: Optional[Callable[[Selector, Message, bool], None]] = None) -> Dict[str, Any]:
    """Read a listing once: select, summarise, keep the first ``limit`` selected messages.

    Returns a dict with ``summary`` (of the selected messages), ``messages``, ``listed`` (messages in the listing)
    and ``duplicates`` (repeats dropped). ``subsets`` ({name: Selector}) are summarised in the same pass, each over
    the whole listing (``subsets`` in the result); ``observe`` is called with every listed message.

    Selectors with origin or content options (``needs``), and ``inspect`` (the tier of who is sending: "origin" or
    "headers"), need queue files read: ``read(messages, tier)`` yields (message, queue file or None when gone) - the
    listing first narrows with the envelope options, then only what it left is read, each message once, at the
    costliest tier any of them needs. ``content`` in the result says how many were read and gone, and ``origins``
    who is sending (with ``inspect``).

    ``inspect_max`` (0: no bound) bounds the queue files read only to say who is sending: when the selection itself
    needs none and selects more, an even sample of that many is read (``even_sample``, in listing order) and
    ``origins`` says so (``sampled_from``: how many messages it is a sample of). A selection that reads queue files
    anyway is described whole.

    ``remember(selector, message, matched)``, when given, is told each verdict of a selector's origin and content
    options on a message read (see _verdicts).
    """
    if limit < 0:
        raise SelectionError("limit must be 0 or more, got %r" % (limit,))
    if inspect_max < 0:
        raise SelectionError("inspect_max must be 0 or more, got %r" % (inspect_max,))
    named = [(None, selector)] + sorted((subsets or {}).items())
    summaries = {name: Summary(now=selector.now, top=top) for name, _subset in named}
    origins = Origins(top, headers=inspect == "headers") if inspect else None
    kept: List[Message] = []
    stats: Dict[str, int] = {}
    listed = 0
    pending: List[Tuple[Message, List[Optional[str]]]] = []
    for message in unique_messages(messages, stats):
        listed += 1
        if observe is not None:
            observe(message)
        waiting = []
        for name, subset in named:
            if not subset.matches(message):
                continue
            if subset.needs is None:
                summaries[name].add(message)
            if subset.needs is not None:
                waiting.append(name)
                continue
            if name is None and origins is not None:
                waiting.append(_INSPECT)      # read only to say who is sending: may be sampled
            if name is None and len(kept) < limit:
                kept.append(message)
        if waiting:
            pending.append((compact(message, reasons=True), waiting))
    result: Dict[str, Any] = {}
    inspected = [entry for entry in pending if _INSPECT in entry[1]]
    sample = even_sample(len(inspected), inspect_max)
    if origins is not None and len(sample) < len(inspected):
        origins.sampled_from = len(inspected)
        for index, (_message, waiting) in enumerate(inspected):
            if index not in sample:
                waiting.remove(_INSPECT)
        pending = [entry for entry in pending if entry[1]]
    if pending:
        if read is None:
            raise SelectionError("options that read queue files need a reader")
        tier = costliest([subset.needs for _name, subset in named] + [inspect])
        names = {message["queue_id"]: waiting for message, waiting in pending}
        selectors: Dict[Any, Selector] = dict(named)
        counts = {"read": 0, "gone": 0}
        for message, queue_file in read([message for message, _waiting in pending], tier or ORIGIN):
            if queue_file is None:
                counts["gone"] += 1
                continue
            counts["read"] += 1
            for name in names[message["queue_id"]]:
                if name is _INSPECT:
                    if origins is not None:
                        origins.add(message, queue_file)
                    continue
                subset = selectors[name]
                if subset.needs is not None:
                    matched = subset.matches_file(queue_file)
                    if remember is not None:
                        remember(subset, message, matched)
                    if not matched:
                        continue
                    summaries[name].add(message)
                if name is None:
                    if origins is not None:
                        origins.add(message, queue_file)
                    if len(kept) < limit:
                        kept.append(expanded(message))
        result["content"] = dict(counts, tier=tier)
    result.update({"summary": summaries[None].result(), "messages": kept, "listed": listed,
                   "duplicates": stats.get("duplicates", 0)})
    if subsets is not None:
        result["subsets"] = {name: summaries[name].result() for name, _subset in named if name is not None}
    if origins is not None:
        result["origins"] = origins.result()
    return result
