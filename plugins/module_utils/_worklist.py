# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""An action's work list: what it will do to the selected messages, the guards, and the accounting. PURE.

Data flows: selected messages -> work_list() -> guards -> (the runner acts in
batches) -> account() -> the module's result. The work list's fields are named
as the result keys they become (vanished, not_applicable, requeued_long_held);
"plan" means only a reviewed change plan (_changeplan).
"""

from __future__ import absolute_import, division, print_function

from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils import _values
from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._queue import EMPTY_SENDER, UNMARKED_QUEUES, Message


class ActionError(MailopsError):
    """An action refused before anything ran (guards, conflicting options)."""


class Action:
    """One action: the postsuper flag, the queues it can act on, and its target state."""

    def __init__(self, name: str, flag: Optional[str], acts_on: Iterable[str], done: Callable[[Message], bool],
                 after: Optional[str], destructive: bool = False, min_version: Optional[Tuple[int, ...]] = None) -> None:
        self.name = name
        self.flag = flag                  # postsuper flag, or None (flush, archive)
        self.acts_on = frozenset(acts_on)
        self.done = done                  # message -> already in the target state?
        self.after = after                # queue a changed message ends in (for diff), None when deleted
        self.destructive = destructive
        self.min_version = min_version


_ACTIVE = ("incoming", "active", "deferred")
ACTIONS = {a.name: a for a in (
    # postsuper -h does nothing to maildrop files; held mail is already held
    Action("hold", "h", _ACTIVE, lambda m: m["queue_name"] == "hold", "hold"),
    Action("release", "H", ("hold",), lambda m: m["queue_name"] not in ("hold", None), "deferred"),
    # -r sends the message through pickup/cleanup again, under a new queue ID
    Action("requeue", "r", _ACTIVE + ("hold",), lambda m: False, "maildrop (new queue ID)"),
    Action("delete", "d", _ACTIVE + ("hold", "maildrop"), lambda m: False, None, destructive=True),
    Action("expire", "e", _ACTIVE + ("hold",), lambda m: m["forced_expire"], "(same queue, marked expired)",
           destructive=True, min_version=(3, 5)),
    Action("expire_release", "f", _ACTIVE + ("hold",),
           lambda m: m["forced_expire"] and m["queue_name"] not in ("hold", None), "deferred (marked expired)",
           destructive=True, min_version=(3, 5)),
    Action("flush", None, ("deferred",), lambda m: False, "active (delivery attempted now)"),
    Action("archive", None, _ACTIVE + ("hold", "maildrop"), lambda m: False, "(unchanged, archived)"),
)}


def postfix_time(value: Any, default_unit: str = "d") -> int:
    """Seconds of a Postfix time parameter such as '5d' (no unit: days, as for maximal_queue_lifetime)."""
    return _values.postfix_time(value, default_unit, ActionError)


class WorkList:
    """The messages an action will act on, grouped by the queue each was seen in, and those it will not."""

    def __init__(self, action: Action) -> None:
        self.action = action
        self.by_queue = {}             # postsuper queue restriction (tuple of names) -> [queue_id]
        self.vanished = []             # selected, already in the target state (or gone meanwhile)
        self.not_applicable = []       # selected, but this action cannot act where they are: {queue_id, queue_name, reason}
        self.requeued_long_held = []   # release: held past their lifetime, requeued instead
        self.diff = []                 # (queue_id, before, after)

    def restrict_to(self, kept: Iterable[str], gone: Iterable[str]) -> None:
        """Keep only ``kept`` (e.g. what was archived whole); ``gone`` counts as vanished."""
        keep = set(kept)
        for queues in list(self.by_queue):
            self.by_queue[queues] = [queue_id for queue_id in self.by_queue[queues] if queue_id in keep]
            if not self.by_queue[queues]:
                del self.by_queue[queues]
        self.requeued_long_held = [queue_id for queue_id in self.requeued_long_held if queue_id in keep]
        self.vanished.extend(gone)

    @property
    def queue_ids(self) -> List[str]:
        ids = []
        for group in self.by_queue.values():
            ids.extend(group)
        return ids + list(self.requeued_long_held)


def work_list(action_name: str, messages: Iterable[Message], now: float, long_held: str = "requeue",
              lifetimes: Optional[Dict[str, int]] = None) -> WorkList:
    """What an action will do to the selected messages.

    Each message is acted on only in the queue it was seen in: postsuper gets
    that queue name, so a message that moved since the listing is left alone
    (and reported as vanished) rather than acted on where it was not selected.
    A message whose queue a text listing could not tell is restricted to the
    queues it may be in.
    ``lifetimes`` (release only): {"maximal_queue_lifetime": s, "bounce_queue_lifetime": s}.
    """
    action = ACTIONS[action_name]
    result = WorkList(action)
    for message in messages:
        queue = message["queue_name"]
        queue_id = message["queue_id"]
        if queue is not None and queue not in action.acts_on:
            if action.done(message):
                result.vanished.append(queue_id)
            else:
                result.not_applicable.append({"queue_id": queue_id, "queue_name": queue,
                                              "reason": "%s does not act on mail in %s" % (action.name, queue)})
            continue
        if action.done(message):
            result.vanished.append(queue_id)
            continue
        where = (queue,) if queue is not None else tuple(q for q in UNMARKED_QUEUES if q in action.acts_on)
        if not where:  # an unmarked text entry is in none of the queues this action acts on
            result.vanished.append(queue_id)
            continue
        if action_name == "release" and lifetimes is not None and _past_lifetime(message, now, lifetimes):
            if long_held == "fail":
                raise ActionError(
                    "%s has been queued %s, past its lifetime: releasing it with -H would bounce it at once; "
                    "use long_held=requeue (postsuper -r, a new arrival time) or long_held=release"
                    % (queue_id, _age(message, now)))
            if long_held == "requeue":
                result.requeued_long_held.append(queue_id)
                result.diff.append((queue_id, queue, "maildrop (requeued: held past its lifetime)"))
                continue
        result.by_queue.setdefault(where, []).append(queue_id)
        result.diff.append((queue_id, queue, action.after))
    return result


def _past_lifetime(message: Message, now: float, lifetimes: Dict[str, int]) -> bool:
    if message["arrival_time"] is None:
        return False
    key = "bounce_queue_lifetime" if message["sender"] == EMPTY_SENDER else "maximal_queue_lifetime"
    return now - message["arrival_time"] > lifetimes[key]


def _age(message: Message, now: float) -> str:
    seconds = int(now - message["arrival_time"])
    return "%dd %02dh" % (seconds // 86400, seconds % 86400 // 3600)


def check_guards(action_name: str, selector: Any, matched: int, all_messages: bool = False,
                 max_messages: Optional[int] = None, expect_count: Optional[int] = None) -> None:
    """Refuse before any change: ALL without all=true, selections larger or other than expected."""
    if selector.is_empty and not all_messages:
        raise ActionError(
            "no selection option was given: %s would act on the whole queue. Give a selection "
            "(queue_ids, queues, sender, ...) or all: true to mean every message" % action_name)
    if max_messages is not None and matched > max_messages:
        raise ActionError("the selection matches %d messages, more than max_messages=%d: nothing was changed"
                          % (matched, max_messages))
    if expect_count is not None and matched != expect_count:
        raise ActionError("the selection matches %d messages, not expect_count=%d: nothing was changed"
                          % (matched, expect_count))


def batches(ids: Sequence[str], size: int) -> List[Sequence[str]]:
    """Split a list of IDs into batches of at most ``size``."""
    if size < 1:
        raise ActionError("batch_size must be at least 1, got %r" % (size,))
    return [ids[start:start + size] for start in range(0, len(ids), size)]


def diff_text(entries: Iterable[Tuple[str, Optional[str], Optional[str]]], side: str) -> str:
    """Diff text (one 'ID queue' line per message) for Ansible's diff mode."""
    missing = "(unknown queue)" if side == "before" else "(deleted)"
    lines = []
    for queue_id, before, after in sorted(entries):
        value = before if side == "before" else after
        lines.append("%s %s" % (queue_id, missing if value is None else value))
    return "\n".join(lines) + ("\n" if lines else "")


def reported(flag: str, outcome: Any) -> Set[str]:
    """IDs postsuper reported changed by the operation of ``flag`` (-f: expired or released)."""
    if flag == "f":
        return set(outcome.ids("e")) | set(outcome.ids("H"))
    return set(outcome.ids(flag))


def account(work: WorkList, batch_results: Sequence[Tuple[str, Sequence[str], Any]],
            failed: bool = False) -> Tuple[List[str], List[str], List[str]]:
    """The result's accounting from what postsuper said, batch by batch.

    ``batch_results``: [(flag, ids_sent, PostsuperOutcome)]. A message counts as
    changed only when postsuper printed its per-ID line for the batch's
    operation (expire_release: expired or released). Returns (changed,
    vanished, pending): vanished is what was sent but not reported changed,
    plus what was already in the target state; pending is what was on the work
    list but never sent (a failure stopped the run first). With ``failed``, the last
    batch is the one that failed: its unreported IDs are pending, not vanished
    (postsuper died before it could say anything about them).
    """
    changed = []
    seen, sent_ids = set(), set()
    for flag, sent, outcome in batch_results:
        changed_here = reported(flag, outcome)
        sent_ids.update(sent)
        for queue_id in sent:
            if queue_id in changed_here and queue_id not in seen:
                seen.add(queue_id)
                changed.append(queue_id)
    if failed and batch_results:
        sent_ids.difference_update(queue_id for queue_id in batch_results[-1][1] if queue_id not in seen)
    listed = work.queue_ids
    vanished = [queue_id for queue_id in listed if queue_id in sent_ids and queue_id not in seen]
    pending = [queue_id for queue_id in listed if queue_id not in sent_ids]
    return changed, vanished + list(work.vanished), pending
