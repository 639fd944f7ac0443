# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""What postsuper says it did, from its stderr. Pure, stdlib only.

postsuper's exit status tells little: it exits 0 for IDs that are gone,
invalid or already in the target state, and 1 on a fatal error possibly
after acting on some IDs. The truth is one stderr line per changed message
(``postsuper: ID: placed on hold``) followed by a total per operation
(``postsuper: Placed on hold: 3 messages``).

``postsuper -h ALL queue`` prints the total only: what it held is proved from the hold directory
instead (``prove_whole``).
"""

from __future__ import absolute_import, division, print_function

import re
from typing import Iterable, List

# postsuper flag -> (per-message verb, total label)
OPERATIONS = {
    "d": ("removed", "Deleted"),
    "e": ("expired", "Force-expired"),
    "r": ("requeued", "Requeued"),
    "h": ("placed on hold", "Placed on hold"),
    "H": ("released from hold", "Released from hold"),
}
_VERB_FLAG = {verb: flag for flag, (verb, label) in OPERATIONS.items()}
_LABEL_FLAG = {label: flag for flag, (verb, label) in OPERATIONS.items()}

_PER_ID_RE = re.compile(r"\Apostsuper: ([0-9A-Za-z]+): (%s)\Z" % "|".join(re.escape(v) for v in _VERB_FLAG))
_TOTAL_RE = re.compile(r"\Apostsuper: (%s): (\d+) messages?\Z" % "|".join(re.escape(k) for k in _LABEL_FLAG),
                       re.ASCII)
_WARNING_RE = re.compile(r"\Apostsuper: warning: (.*)\Z")
_FATAL_RE = re.compile(r"\Apostsuper: fatal: (.*)\Z")


class PostsuperOutcome:
    """Per-ID outcomes and totals of one postsuper run.

    ``changed[flag]`` lists the IDs postsuper reported for that operation, in
    order; ``totals[flag]`` is its summary count (None when no total line was
    printed, as after a fatal error); ``warnings``, ``fatal`` and ``other``
    (lines this parser does not know) keep the rest. ``consistent`` is False
    when a total disagrees with its per-ID lines.
    """

    def __init__(self) -> None:
        self.changed = {flag: [] for flag in OPERATIONS}
        self.totals = {flag: None for flag in OPERATIONS}
        self.warnings = []
        self.fatal = None
        self.other = []
        self.whole = False        # ALL: changed was proved from the queue directories, not printed per ID

    @property
    def consistent(self) -> bool:
        for flag, total in self.totals.items():
            if total is None:
                continue
            # ALL also acts on what entered the queue after the listing: its total may be larger, never smaller
            if total < len(self.changed[flag]) if self.whole else total != len(self.changed[flag]):
                return False
        return True

    def ids(self, flag: str) -> List[str]:
        return list(self.changed[flag])


def parse_postsuper(stderr: str) -> "PostsuperOutcome":
    """Parse postsuper's stderr (text) into a PostsuperOutcome."""
    outcome = PostsuperOutcome()
    for line in stderr.splitlines():
        if not line.strip():
            continue
        match = _PER_ID_RE.match(line)
        if match:
            outcome.changed[_VERB_FLAG[match.group(2)]].append(match.group(1))
            continue
        match = _TOTAL_RE.match(line)
        if match:
            outcome.totals[_LABEL_FLAG[match.group(1)]] = int(match.group(2))
            continue
        match = _WARNING_RE.match(line)
        if match:
            outcome.warnings.append(match.group(1))
            continue
        match = _FATAL_RE.match(line)
        if match:
            outcome.fatal = match.group(1)
            continue
        outcome.other.append(line)
    return outcome


def prove_whole(stderr: str, flag: str, listed: Iterable[str], before: Iterable[str], after: Iterable[str]) -> PostsuperOutcome:
    """The outcome of ``postsuper -FLAG ALL queue``, which prints no per-ID lines: the listed IDs (those seen in
    the queue before it ran) that are in the target directory after it ran and were not before.

    ``before`` and ``after`` are the target directory's IDs just before and just after the run. A message that
    entered the queue after the listing and was acted on too is not among the listed, so never counted here;
    postsuper's total counts it, which is why the total may be larger than what is proved (``consistent``
    allows that, never a smaller total).
    """
    outcome = parse_postsuper(stderr)
    new = set(after).difference(before)
    outcome.changed[flag] = [queue_id for queue_id in listed if queue_id in new]
    outcome.whole = True
    return outcome


def passed_over(listed: Iterable[str], outcome: PostsuperOutcome, flag: str, still_queued: Iterable[str]) -> List[str]:
    """The listed IDs a run of ``postsuper -FLAG ALL queue...`` did not act on although they are still in those queues.

    postsuper reads the queues one directory after the other while the queue manager keeps renaming messages between
    them (deferred into active as it schedules them, active back into deferred when a delivery is deferred): a message
    renamed into a directory postsuper has already read is passed over. ``still_queued``: the IDs in the queues now.
    """
    done = set(outcome.changed[flag])
    queued = set(still_queued)
    return [queue_id for queue_id in listed if queue_id not in done and queue_id in queued]


def merge_whole(first: PostsuperOutcome, then: PostsuperOutcome) -> PostsuperOutcome:
    """One outcome of a whole-queue run and the run after it (what the first passed over): the IDs proved by each,
    the totals added, every warning, the first fatal error."""
    for flag in OPERATIONS:
        first.changed[flag].extend(then.changed[flag])
        if then.totals[flag] is not None:
            first.totals[flag] = (first.totals[flag] or 0) + then.totals[flag]
    first.warnings.extend(then.warnings)
    first.fatal = first.fatal or then.fatal
    first.other.extend(then.other)
    return first
