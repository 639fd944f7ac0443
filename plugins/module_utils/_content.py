# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""Reading queue files for the selection's costlier tiers, and for who is sending: the step between the listing and
the decisions, for both modules.

The listing narrows first; only the messages it left are read, each once, with the cheapest postcat that gives what
every selector in the run needs (``-e`` for the origin, ``-eh`` for the headers, the whole message only for a body
regex), a thousand IDs per postcat - and, when whole messages are read, no more than BODY_BATCH_BYTES of them
(by their listed sizes) per postcat, so a queue of multi-MB messages is read a few at a time, not a thousand.
A message gone between the listing and its reading is reported, never matched.
Processes run in _postfix_cli; the parsing and the trust rules are _postcat's.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils import _postcat
from ansible_collections.mailops.postfix.plugins.module_utils._postcat import QueueFile
from ansible_collections.mailops.postfix.plugins.module_utils._queue import Message
from ansible_collections.mailops.postfix.plugins.module_utils._selection import BODY, HEADERS, ORIGIN

BATCH = 1000
# The most message bytes (postqueue's message_size) one postcat reading whole messages prints: postcat's output is
# held while it is split, so this bounds the memory of a body regex whatever the messages' sizes. A message larger
# than this is read alone.
BODY_BATCH_BYTES = 16 * 1024 * 1024
# postcat's reading for each tier (see _postcat.FLAGS), cheapest first.
READING = {ORIGIN: "envelope", HEADERS: "headers", BODY: "whole"}
# What ``inspect`` reads: the origin (envelope records) and, with headers, the uid and the Subject.
INSPECT = {"origin": ORIGIN, "headers": HEADERS}


def read(cli: Any, messages: Sequence[Message], tier: str, body_limit: Optional[int] = None,
         batch_size: int = BATCH) -> Iterator[Tuple[Message, Optional[QueueFile]]]:
    """Yield (message, queue file) for each of MESSAGES read at TIER - the queue file is None when the message is
    gone since the listing - in batches (see batches) of one postcat each."""
    reading = READING[tier]
    owner_uid = cli.mail_owner_uid() if tier != ORIGIN and messages else None
    by_id: Dict[str, Message] = {}
    for message in messages:
        by_id.setdefault(message["queue_id"], message)
    unique = (list(dict.fromkeys(m["queue_id"] for m in batch)) for batch in batches(messages, tier, batch_size))
    for printed_batch in cli.postcat_batches(unique, reading):
        for kind, queue_id, printed in printed_batch:
            if kind == "gone":
                yield by_id[queue_id], None
                continue
            yield by_id[queue_id], _postcat.queue_file(printed, headers=tier != ORIGIN,
                                                       body_limit=body_limit if tier == BODY else None,
                                                       owner_uid=owner_uid)


def batches(messages: Iterable[Message], tier: str, batch_size: int = BATCH,
            batch_bytes: int = BODY_BATCH_BYTES) -> Iterator[List[Message]]:
    """MESSAGES (listed, in order) cut into the batches one postcat reads: at most BATCH_SIZE messages, and for the
    body tier (whole messages printed) at most BATCH_BYTES of listed message_size - a larger message alone."""
    batch: List[Message] = []
    size = 0
    for message in messages:
        grows = (message.get("message_size") or 0) if tier == BODY else 0
        if batch and (len(batch) >= batch_size or size + grows > batch_bytes):
            yield batch
            batch, size = [], 0
        batch.append(message)
        size += grows
    if batch:
        yield batch


# The attributes and headers a content fingerprint covers: what the origin and content options can select on.
FINGERPRINTED_ATTRIBUTES = ("sasl_username", "log_client_address", "client_address", "log_client_name",
                            "client_name", "log_helo_name", "helo_name")


def fingerprint(queue_file: QueueFile, headers: Iterable[str] = ()) -> str:
    """A sha256 of what a plan's origin and content options saw of a message: its origin attributes, how it came in,
    its local uid and the values of HEADERS (lower-case names). A plan applies a message only if this is unchanged."""
    seen = {"attributes": {name: queue_file["attributes"].get(name) for name in FINGERPRINTED_ATTRIBUTES},
            "origin": queue_file["origin"], "local_uid": queue_file["local_uid"],
            "headers": {name: [raw for _decoded, raw in queue_file["headers"].get(name, ())] for name in headers}}
    return hashlib.sha256(json.dumps(seen, sort_keys=True).encode("utf-8")).hexdigest()
