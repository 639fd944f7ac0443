# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""What a selection's origin and content options found in the queue files already read, kept on the host from one run
of an incident to the next: the assessment reads the junk's queue files once, and the purge's selection and its count
of the junk held take its verdicts instead of reading the same files again (at 100,000 messages selected by login,
each reading is seconds).

A verdict is kept per selection - a digest of its origin and content options, the only options a verdict depends on
- and per message: its queue ID with the arrival time and size the listing showed. A queue file's envelope records
and headers never change while it keeps its queue ID (``postsuper -r`` gives a requeued message a new queue file and
ID), so a verdict holds while the listing shows the same (ID, arrival time, size); anything else - a message arrived
since, a queue ID reused, another selection - is read. Only what the last listing still showed is kept.

The file is a cache beside the incident's ledger (STATE_DIR/INSTANCE/verdicts.json, mode 0600): missing, unreadable
or of another format, it is ignored and the queue files are read. It is never used to apply a reviewed plan (a plan's
content fingerprints are always compared against the queue files themselves).
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
from typing import Any, Callable, Container, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils import _files
from ansible_collections.mailops.postfix.plugins.module_utils._postcat import QueueFile
from ansible_collections.mailops.postfix.plugins.module_utils._queue import Message

FILE = "verdicts.json"
FORMAT = 1
Reader = Callable[[List[Message], str], Iterable[Tuple[Message, Optional[QueueFile]]]]


def path_for(state_dir: str, instance_name: str) -> str:
    """Where an instance's verdicts are kept: beside its incident ledger."""
    return os.path.join(state_dir, instance_name, FILE)


def selection_key(selector: Any) -> str:
    """The digest a selector's verdicts are kept under: of its origin and content options (and how much body it reads)."""
    seen = {"format": FORMAT, "options": selector.content_given, "body_limit": selector.body_limit}
    return hashlib.sha256(json.dumps(seen, sort_keys=True, default=str).encode("utf-8")).hexdigest()


class Verdicts:
    """The verdicts of one instance: ``known`` and ``note`` per (selector, listed message), ``save`` once a run is done.
    The file is read at the first ``known`` or ``note``: a run that reads no queue file does not read it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._loaded: Optional[Dict[str, Dict[str, List[Any]]]] = None
        self._keys: Dict[int, str] = {}
        self.dirty = False

    @property
    def _tables(self) -> Dict[str, Dict[str, List[Any]]]:
        """The verdicts kept, by selection key; none when the file is missing, unreadable or not of this format."""
        if self._loaded is None:
            self._loaded = {}
            try:
                with open(self.path, encoding="utf-8") as handle:
                    kept = json.load(handle)
            except (OSError, ValueError):
                kept = None
            if isinstance(kept, dict) and kept.get("format") == FORMAT and isinstance(kept.get("selections"), dict):
                self._loaded = {key: table for key, table in kept["selections"].items() if isinstance(table, dict)}
        return self._loaded

    def _key(self, selector: Any) -> str:
        key = self._keys.get(id(selector))
        if key is None:
            key = self._keys[id(selector)] = selection_key(selector)
        return key

    def known(self, selector: Any, message: Message) -> Optional[bool]:
        """SELECTOR's verdict on MESSAGE when one was kept for the same queue file; None when it must be read."""
        entry = self._tables.get(self._key(selector), {}).get(message["queue_id"])
        if isinstance(entry, list) and len(entry) == 3 and entry[0] == message["arrival_time"] \
                and entry[1] == message["message_size"] and isinstance(entry[2], bool):
            return entry[2]
        return None

    def note(self, selector: Any, message: Message, matched: bool) -> None:
        """Keep SELECTOR's verdict on MESSAGE (read just now)."""
        self._tables.setdefault(self._key(selector), {})[message["queue_id"]] = \
            [message["arrival_time"], message["message_size"], bool(matched)]
        self.dirty = True

    def save(self, listed: Container[str]) -> Optional[str]:
        """Write the verdicts of the messages still LISTED (queue IDs) - when this run noted any; the instance's folder is
        created (0700) if it is missing. The write is atomic: a reader sees the old file or the new one. Returns None,
        or a warning when the file could not be written (a cache: the run's own outcome stands)."""
        if not self.dirty:
            return None
        tables = {}
        for key, table in self._tables.items():
            kept = {queue_id: entry for queue_id, entry in table.items() if queue_id in listed}
            if kept:
                tables[key] = kept
        try:
            folder = os.path.dirname(self.path)
            if not os.path.isdir(folder):
                os.makedirs(folder, 0o700)
            _files.write_text(self.path, json.dumps({"format": FORMAT, "selections": tables}, separators=(",", ":")),
                              0o600)
        except OSError as exc:
            return ("what the origin and content options found could not be kept in %s (%s): the incident's later "
                    "runs read those queue files again" % (self.path, exc))
        self._loaded, self.dirty = tables, False
        return None


def judge(verdicts: Optional[Verdicts], selectors: Sequence[Any], messages: Iterable[Message], tier: str,
          read: Reader, counts: Optional[Dict[str, int]] = None) -> Iterator[Tuple[Message, Optional[List[bool]]]]:
    """For each of MESSAGES, whether each of SELECTORS' origin and content options match it (None: the message is
    gone since the listing): from the VERDICTS kept where every one of them holds, otherwise read at TIER
    (``read(messages, tier)``) and kept. COUNTS, when given, gets how many were ``remembered``, ``read`` and ``gone``."""
    counts = counts if counts is not None else {}
    for name in ("remembered", "read", "gone"):
        counts.setdefault(name, 0)
    unread = []
    for message in messages:
        found = [verdicts.known(selector, message) for selector in selectors] if verdicts is not None else [None]
        if None in found:
            unread.append(message)
            continue
        counts["remembered"] += 1
        yield message, found  # type: ignore[misc]
    for message, queue_file in read(unread, tier) if unread else ():
        if queue_file is None:
            counts["gone"] += 1
            yield message, None
            continue
        counts["read"] += 1
        found = [selector.matches_file(queue_file) for selector in selectors]
        if verdicts is not None:
            for selector, matched in zip(selectors, found):
                verdicts.note(selector, message, matched)
        yield message, found


def count(verdicts: Optional[Verdicts], selector: Any, messages: Iterable[Message], read: Reader,
          counts: Optional[Dict[str, int]] = None) -> int:
    """How many of MESSAGES SELECTOR's origin and content options match (``judge``: a kept verdict where one holds,
    otherwise the queue file read at the selector's tier); a message gone since the listing does not count."""
    return sum(1 for _message, found in judge(verdicts, [selector], messages, selector.needs, read, counts)
               if found is not None and found[0])
