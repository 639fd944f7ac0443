# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""postfix_queue_action's steps: list -> select -> work list -> guards -> act in batches -> account.

The decisions are pure (_queue, _worklist, _postsuper, _incident, _changeplan); processes run only
in _postfix_cli, through one runner per module run. The two sequencers (_run, _reinject) fill the
result they are given as they go, so that a failure part-way returns the same keys with what was done
so far; the helpers they call return values.
"""

from __future__ import absolute_import, division, print_function

import os
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils import (
    _archive, _audit, _changeplan, _content, _postcat, _verdicts, _worklist)
from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._postcat import QueueFile
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import WHOLE_QUEUES, PostfixCLI, PostfixError
from ansible_collections.mailops.postfix.plugins.module_utils._queue import Message, compact, unique_messages
from ansible_collections.mailops.postfix.plugins.module_utils._incident_scope import IncidentScope
from ansible_collections.mailops.postfix.plugins.module_utils._reinject import reinject
from ansible_collections.mailops.postfix.plugins.module_utils._selection import FILTERS, Selector, budget, costliest
from ansible_collections.mailops.postfix.plugins.module_utils._values import parse_duration
from ansible_collections.mailops.postfix.plugins.module_utils._worklist import ActionError

THROTTLED = ("requeue", "release", "flush")
# The result's lists of messages, counted in ``counts``; the bare ID lists are left out with return_ids=false
# (those with reasons - not_applicable, skipped_changed - are always returned).
COUNTED = ("queue_ids", "vanished", "not_applicable", "pending", "requeued_long_held", "skipped_changed")
ID_LISTS = ("queue_ids", "vanished", "pending", "requeued_long_held")


def _empty_result(action: str) -> Dict[str, Any]:
    return {"action": action, "matched": 0, "changed_count": 0, "queue_ids": [], "vanished": [],
            "not_applicable": [], "requeued_long_held": [], "pending": [], "batches": [], "skipped_changed": []}


def run_action(params: Dict[str, Any], check_mode: bool, diff: bool = False) -> Tuple[Dict[str, Any], Optional[str], List[str]]:
    """Run the action; returns (result, error message or None, warnings). ``diff``: add the diff (diff mode).

    A real run (not check mode) in which Postfix was asked to change something also writes one
    audit line to Postfix's own log (postlog): who, what, which IDs, and whether it failed.
    """
    cli = PostfixCLI.from_params(params)
    result = _empty_result(params["action"])
    warnings = []
    error = None
    try:
        check_option_rules(params)
        if params["action"] == "reinject":
            reinject(cli, params, check_mode, result)
        else:
            _run(cli, params, check_mode, result, warnings, diff)
    except MailopsError as exc:
        error = str(exc)
    except OSError as exc:    # reading an archive to re-inject (the writer's errors are ActionErrors)
        error = str(exc)
    if not check_mode and (result["changed_count"] or result["batches"] or result["pending"]):
        _audit.write(cli, audit_text(params, result, error), warnings)
    result["counts"] = {key: len(result[key]) for key in COUNTED}
    if not params["return_ids"]:
        for key in ID_LISTS:
            del result[key]
    return result, error, warnings


def check_option_rules(params: Dict[str, Any]) -> None:
    """The rules between options that the argument spec cannot declare (it declares required_if and
    mutually_exclusive: archive needs archive_dir, reinject needs archive, plan replaces the selection)."""
    action = params["action"]
    if params["archive"] and action != "reinject":
        raise ActionError("archive (an archive to re-inject) is only for action=reinject")
    if params["archive_dir"] and action not in ("archive", "delete"):
        raise ActionError("archive_dir is for action=archive and action=delete, not %s" % action)
    if action == "reinject":
        given = [name for name in FILTERS if name != "queue_ids" and params[name]]
        if given or params["exclude"] or params["incident"] or params["plan"] is not None:
            raise ActionError("reinject takes archive and optionally queue_ids, not %s" % ", ".join(
                given + [name for name in ("exclude", "incident", "plan") if params[name] is not None]))


def audit_text(params: Dict[str, Any], result: Dict[str, Any], error: Optional[str]) -> str:
    """The audit line of an action for Postfix's log: short, one line, key=value."""
    planned = result.get("plan_id")
    return _audit.line(params["operator"], [
        ("action", result["action"]),
        ("plan", planned or None),
        ("selection", None if planned else _audit.json_value(result.get("selection"))),
        ("changed", result["changed_count"]), ("matched", result["matched"]),
        ("skipped_changed", len(result["skipped_changed"])),
        ("archive", result.get("archive", {}).get("directory") or None),
        ("result", "failed" if error else "ok"), ("ids", _audit.ids(result["queue_ids"]))])


def _run(cli: PostfixCLI, params: Dict[str, Any], check_mode: bool, result: Dict[str, Any], warnings: List[str],
         diff: bool = False) -> None:
    """The action's steps, in order: options -> instance -> listing and selection -> incident -> guards -> work list
    -> archive -> act -> record -> wake pickup."""
    action = _worklist.ACTIONS[params["action"]]
    selector = Selector.from_params(params)
    exclude = Selector.from_options(params["exclude"], "exclude", selector.now) if params["exclude"] else None
    instance = _instance(cli, action, result)
    source = cli.choose_source(params["source"], instance["version"])
    result["selection"] = selector.given
    on_disk = _reads_directories(action, selector, exclude, params)
    incident = IncidentScope(params["incident"], instance, selector.now, check_mode,
                             lambda messages, tier: _content.read(cli, messages, tier),
                             action.name) if params["incident"] else None
    with budget([selector, exclude] + (incident.selectors if incident else [])):
        listed_by_queue: Dict[Optional[str], int] = {}
        if on_disk:
            listed = unique_messages(cli.list_on_disk(instance["queue_directory"], list(selector.given["queues"]) + ["hold"]))
        else:
            listed = unique_messages(cli.list_queue(source, selector.now))
        if action.name == "hold":        # only a hold may take whole queues (_whole_queues)
            listed = _counted(listed, listed_by_queue)
        if incident:
            listed = incident.note_listing(listed)
        if params["plan"] is not None:
            plan_id, selected, skipped, reading = _plan_messages(cli, params, instance, selector.now, listed)
            result["plan_id"], result["skipped_changed"] = plan_id, skipped
            picked = Picked(selected, reading=reading)
        else:
            picked = _select(cli, selector, exclude, listed, params["return_plan"], incident.verdicts if incident else None)
        warnings.extend(cli.warnings)
        if exclude:
            result["excluded"] = picked.excluded
        if picked.reading:
            result["content"] = picked.reading
        selected = picked.messages
        if incident:
            incident.refuse_unless_allowed(action.name)
            selected, result["incident"] = incident.restrict(action.name, selected)
    result["matched"] = len(selected)
    result["listed_at"] = selector.now
    result["listed_from"] = "queue directories" if on_disk else "postqueue"
    result["matched_by_queue"] = _count_by_queue(selected)
    _worklist.check_guards(action.name, selector, len(selected), params["all"] or params["plan"] is not None,
                           params["max_messages"], params["expect_count"])
    work = _work_list(cli, action, selected, selector.now, params, instance)
    work.vanished.extend(picked.gone)
    result["not_applicable"] = work.not_applicable
    if params["return_plan"]:
        planned = set(work.queue_ids)
        result["plan"] = _changeplan.host_plan(action.name, selector.given, instance["mail_version"], instance,
                                               selector.now, [m for m in selected if m["queue_id"] in planned],
                                               picked.content_plan(planned))
    if diff:    # one line per message: built only when asked for
        result["diff"] = {"before": _worklist.diff_text(work.diff, "before"),
                          "after": _worklist.diff_text(work.diff, "after")}
    if params["archive_dir"]:
        _archive_step(cli, work, selected, params, instance, selector, result, check_mode, incident)
    whole = _whole_queues(action, selector, exclude, params, listed_by_queue, work)
    steps = [] if action.name == "archive" else \
        _steps(cli, action, work, params["batch_size"], selector, whole, instance["queue_directory"])
    if check_mode or action.name == "archive":
        result["batches"] = [{"command": step.shown, "sent": len(step.ids), "changed": len(step.ids)} for step in steps]
        result["queue_ids"] = work.queue_ids
        result["changed_count"] = len(work.queue_ids)
        result["requeued_long_held"] = list(work.requeued_long_held)
        result["vanished"] = list(work.vanished)
        return
    if incident:
        incident.write_ahead(action.name, work.queue_ids, (result.get("archive") or {}).get("directory"))
    acted = _act(cli, work, steps, params, instance)
    for key in ("batches", "queue_ids", "requeued_long_held", "vanished", "pending"):
        result[key] = acted[key]
    result["changed_count"] = len(result["queue_ids"])
    if incident:
        trouble = incident.record_outcome(action.name, result, acted["error"] is None)
        if trouble:
            warnings.append(trouble)
    if acted["error"] is not None:
        raise acted["error"]
    if action.name == "requeue" or result["requeued_long_held"]:
        trouble = cli.wake_pickup() if result["changed_count"] else None
        if trouble:
            warnings.append("requeued mail waits in maildrop until pickup runs (postkick: %s)" % trouble)


def _instance(cli: PostfixCLI, action: _worklist.Action, result: Dict[str, Any]) -> Dict[str, Any]:
    """The instance (one postconf), refused when its Postfix is too old for the action."""
    instance = cli.instance()
    result["postfix_version"] = instance["mail_version"]
    result["instance"] = {k: instance[k] for k in ("name", "config_dir", "queue_directory")}
    if action.min_version and tuple(instance["version"]) < action.min_version:
        raise ActionError("%s needs Postfix %s or newer; this is %s" % (
            action.name, ".".join(str(v) for v in action.min_version), instance["mail_version"]))
    return instance


class Picked:
    """What the selection step picked: the messages (compact), how many the exclusion kept out, the IDs gone before
    their queue file could be read, the content fingerprints of a selection with origin or content options, and what
    was read of the queue files ({"tier", "read", "gone"}, None when none was read)."""

    def __init__(self, messages: List[Message], excluded: int = 0, gone: Iterable[str] = (),
                 content: Optional[Dict[str, Any]] = None, reading: Optional[Dict[str, Any]] = None) -> None:
        self.messages = messages
        self.excluded = excluded
        self.gone = list(gone)
        self.content = content
        self.reading = reading

    def content_plan(self, planned: Iterable[str]) -> Optional[Dict[str, Any]]:
        """The plan's content part for the planned IDs (None when the selection read no queue file)."""
        if not self.content:
            return None
        return dict(self.content, fingerprints={queue_id: digest for queue_id, digest
                                                in self.content["fingerprints"].items() if queue_id in planned})


def _select(cli: PostfixCLI, selector: Selector, exclude: Optional[Selector], listed: Iterable[Message],
            fingerprint: bool = False, verdicts: Optional[_verdicts.Verdicts] = None) -> Picked:
    """The listing narrowed by the envelope options, then - only for what they left - by the origin and content options
    (queue files read once, at the costliest tier the selection or the exclusion needs; with VERDICTS, an incident's
    verdicts kept from an earlier reading are taken instead where they hold - never for a plan's fingerprints, which
    need the files). The messages are kept compact: 100,000 selected stay small."""
    kept, excluded, to_check = [], 0, set()
    for message in selector.select(listed):
        if exclude is not None and exclude.matches(message):
            if exclude.needs is None:
                excluded += 1
                continue
            to_check.add(message["queue_id"])
        kept.append(compact(message))
    tier = costliest([selector.needs] + ([exclude.needs] if to_check else []))
    if tier is None:
        return Picked(kept, excluded)
    to_read = kept if selector.needs else [message for message in kept if message["queue_id"] in to_check]
    headers = fingerprinted_headers(selector)
    body_limit = max([s.body_limit for s in (selector, exclude) if s is not None and s.body_limit] or [None])
    judged = [s for s in (selector if selector.needs else None, exclude if to_check else None) if s is not None]
    survivors, gone, digests, counts = set(), [], {}, {}     # type: ignore[var-annotated]
    fingerprinting = bool(fingerprint and selector.needs)
    if fingerprinting:
        verdicts = None     # a plan's fingerprints need every queue file read

    def read(messages: List[Message], reading: str) -> Iterator[Tuple[Message, Optional[QueueFile]]]:
        for message, queue_file in _content.read(cli, messages, reading, body_limit):
            if fingerprinting and queue_file is not None:
                digests[message["queue_id"]] = _content.fingerprint(queue_file, headers)
            yield message, queue_file
    for message, found in _verdicts.judge(verdicts, judged, to_read, tier, read, counts):
        queue_id = message["queue_id"]
        if found is None:
            gone.append(queue_id)
            continue
        matches = dict(zip(judged, found))
        if not matches.get(selector, True):
            continue
        if queue_id in to_check and matches[exclude]:
            excluded += 1
            continue
        survivors.add(queue_id)
    read_ids = {message["queue_id"] for message in to_read}
    messages = [message for message in kept if message["queue_id"] in survivors or message["queue_id"] not in read_ids]
    content = {"tier": selector.needs, "headers": headers,
               "fingerprints": {queue_id: digests[queue_id] for queue_id in survivors if queue_id in digests}} \
        if fingerprinting else None
    reading = {"tier": tier, "read": counts["read"], "gone": counts["gone"]}
    if verdicts is not None:
        reading["remembered"] = counts["remembered"]
    return Picked(messages, excluded, gone, content, reading)


def fingerprinted_headers(selector: Selector) -> List[str]:
    """The headers a selection looks at: those its header options name, and Received for local_uid."""
    names = set(selector.given.get("header_regex") or {}) | set(selector.given.get("header_raw_regex") or {})
    if "local_uid" in selector.given:
        names.add("received")
    return sorted(names)


def _work_list(cli: PostfixCLI, action: _worklist.Action, selected: List[Message], now: float, params: Dict[str, Any],
               instance: Dict[str, Any]) -> _worklist.WorkList:
    lifetimes = None
    if action.name == "release":
        values = cli.postconf("maximal_queue_lifetime", "bounce_queue_lifetime")
        lifetimes = {k: _worklist.postfix_time(v) for k, v in values.items()}
    if action.flag is not None and os.geteuid() == 0:  # others are refused by postsuper itself
        _check_logging_while_stopped(cli, instance["queue_directory"])
    return _worklist.work_list(action.name, selected, now, params["long_held"], lifetimes)


def _count_by_queue(messages: Iterable[Message]) -> Dict[str, int]:
    counts = {}
    for message in messages:
        name = message["queue_name"] or "unknown"
        counts[name] = counts.get(name, 0) + 1
    return counts


def _plan_messages(cli: PostfixCLI, params: Dict[str, Any], instance: Dict[str, Any], now: float,
                   listed: Iterable[Message]) -> Tuple[Optional[str], List[Message], List[Dict[str, Any]], Optional[Dict[str, Any]]]:
    """A reviewed plan's messages still queued unchanged: returns (plan ID, them, those changed since, what was read of
    their queue files - None for a plan without content fingerprints)."""
    plan = params["plan"]
    try:
        max_age = parse_duration(params["plan_max_age"], "plan_max_age", _changeplan.PlanError)
        _changeplan.validate(plan, params["action"], instance["config_dir"], now, max_age)
    except _changeplan.PlanError as exc:
        raise ActionError("plan refused, nothing was changed: %s" % exc)
    chosen, skipped = _changeplan.match(plan, listed)
    content, reading = plan.get("content"), None
    if content:
        tier = "headers" if content["tier"] == "body" else content["tier"]   # the fingerprint never covers the body
        reading = {"tier": tier, "read": 0, "gone": 0}

        def fingerprints(messages: List[Message]) -> Iterator[Tuple[Message, Optional[str]]]:
            for message, queue_file in _content.read(cli, messages, tier):
                reading["gone" if queue_file is None else "read"] += 1
                yield message, None if queue_file is None else _content.fingerprint(queue_file, content["headers"])
        chosen, changed = _changeplan.match_content(plan, chosen, fingerprints)
        skipped = sorted(skipped + changed, key=lambda entry: entry["queue_id"])
    return plan.get("plan_id"), [compact(message) for message in chosen], skipped, reading


class _ArchiveFailed(ActionError):
    """Archiving stopped before any deletion; ``archive`` is the result's archive summary so far."""

    def __init__(self, message: str, archive: Dict[str, Any]) -> None:
        super(_ArchiveFailed, self).__init__(message)
        self.archive = archive


def _archive_step(cli: PostfixCLI, work: _worklist.WorkList, selected: List[Message], params: Dict[str, Any],
                  instance: Dict[str, Any], selector: Selector, result: Dict[str, Any], check_mode: bool,
                  incident: Optional[IncidentScope]) -> None:
    """Archive what the work list will act on (check mode: say how many); the work list keeps only what was archived
    whole, and what was gone meanwhile is vanished."""
    if check_mode:
        result["archive"] = {"directory": None, "count": len(work.queue_ids), "manifest": None}
        return
    opened = None
    if incident and params["action"] != "archive":
        # the ledger names the archive before its first batch: a run killed after the manifest but before acting
        # leaves an archive of messages it never deleted, which the next run must withdraw, not archive twice
        def opened(path: str) -> None:
            incident.write_ahead(params["action"], work.queue_ids, path)
    try:
        archived, gone, result["archive"] = _archive_first(
            cli, work, selected, params, instance, selector, result.get("plan_id"),
            incident.ledger["incident_id"] if incident else None, opened)
    except _ArchiveFailed as exc:
        result["archive"] = exc.archive
        if incident:
            incident.withdraw_ahead()     # stopped before acting: nothing to account for
        raise
    work.restrict_to(archived, gone)


def _archive_first(cli: PostfixCLI, work: _worklist.WorkList, selected: List[Message], params: Dict[str, Any],
                   instance: Dict[str, Any], selector: Selector, plan_id: Optional[str],
                   incident_id: Optional[str], opened: Any = None) -> Tuple[List[str], List[str], Dict[str, Any]]:
    """Save every message of the work list (content and envelope) before anything is deleted.

    One mbox file per batch, durable before the next. A message gone since the listing (postcat
    cannot open it) is vanished. Any failure to read or write stops the whole action before a
    single deletion. Returns (IDs archived whole, IDs gone meanwhile, the result's archive summary).
    ``opened(path)``, when given, is called once the archive's directory exists, before its first batch.
    """
    by_id = {m["queue_id"]: m for m in selected}
    writer = _archive.ArchiveWriter(params["archive_dir"], instance["name"], selector.now, incident_id)
    archived, vanished = [], []
    try:
        writer.open()
        if opened is not None:
            opened(writer.path)
        # At most batch_size messages and 16 MiB of their listed sizes a batch (postcat's output is held while it is
        # written); the next batch's postcat runs while this one is written and made durable.
        listed = [by_id[queue_id] for queue_id in work.queue_ids]
        id_batches = ([m["queue_id"] for m in batch] for batch in _content.batches(listed, _content.BODY, params["batch_size"]))
        for printed_batch in cli.postcat_batches(id_batches, "whole"):
            writer.begin_batch()
            for kind, queue_id, printed in printed_batch:
                if kind == "gone":
                    vanished.append(queue_id)
                    continue
                sender = _postcat.envelope_sender(printed["envelope"])
                writer.add(dict(by_id[queue_id], envelope_sender=sender), printed["content"])
                archived.append(queue_id)
            writer.end_batch()
        manifest = writer.close({
            "created": int(selector.now), "host": writer.host, "instance": instance["name"],
            "config_dir": instance["config_dir"], "postfix_version": instance["mail_version"],
            "action": params["action"], "selection": selector.given, "plan_id": plan_id, "incident_id": incident_id,
            "operator": params["operator"]})
        packed = writer.pack() if params["archive_pack"] else None
    except (OSError, _archive.ArchiveError, PostfixError) as exc:
        writer.abandon()
        raise _ArchiveFailed("archiving to %s failed (%s): nothing was deleted" % (writer.path, exc),
                             {"directory": writer.path, "count": len(archived), "manifest": None})
    summary = {"directory": writer.path, "count": len(archived), "manifest": manifest}
    if packed:
        summary["packed"] = packed
    return archived, vanished, summary


def _check_logging_while_stopped(cli: PostfixCLI, queue_directory: str) -> None:
    """Refuse before any change when postsuper would stop after its first message.

    With Postfix stopped and maillog_file set, postsuper writes the log itself
    as the mail owner; if it cannot, it acts on one message and dies.
    """
    settings = cli.postconf("maillog_file", "mail_owner")
    if settings["maillog_file"] and not cli.running(queue_directory) and \
            not cli.writable_by(settings["maillog_file"], settings["mail_owner"]):
        raise ActionError(
            "Postfix is stopped and its maillog_file %s is not writable by %s: postsuper would act on one "
            "message and stop. Start Postfix, or make the log file writable by %s; nothing was changed"
            % (settings["maillog_file"], settings["mail_owner"], settings["mail_owner"]))


def _counted(messages: Iterable[Message], counts: Dict[Optional[str], int]) -> Iterator[Message]:
    """Pass the listing through, counting its messages by queue into COUNTS."""
    for message in messages:
        counts[message["queue_name"]] = counts.get(message["queue_name"], 0) + 1
        yield message


def _whole_selection(action: _worklist.Action, selector: Selector, exclude: Optional[Selector],
                     params: Dict[str, Any]) -> bool:
    """Whether the selection is whole queues for a hold: only ``queues`` (or ``all``), nothing excluded, no plan, no
    count guard."""
    return (action.name == "hold" and set(selector.given) <= {"queues"} and exclude is None and params["plan"] is None
            and params["max_messages"] is None and params["expect_count"] is None)


def _reads_directories(action: _worklist.Action, selector: Selector, exclude: Optional[Selector],
                       params: Dict[str, Any]) -> bool:
    """Whether a hold lists its queues from their directories instead of postqueue: a hold of whole queues named in
    ``queues`` (incoming, active, deferred - what ``postsuper -h ALL`` takes), as root (the directories are Postfix's),
    with no returned plan (it needs each message's envelope, arrival time and size: a listing). All it needs of a
    message then is its queue and ID - the diff and an incident's junk (recorded, counted by the first purge) too: one
    listing of 100,000 deferred messages costs about as much as the hold itself, the directories a fraction of it."""
    queues = selector.given.get("queues") or []
    return (_whole_selection(action, selector, exclude, params) and bool(queues) and set(queues) <= set(WHOLE_QUEUES)
            and not params["return_plan"] and not params["archive_dir"] and os.geteuid() == 0)


def _whole_queues(action: _worklist.Action, selector: Selector, exclude: Optional[Selector], params: Dict[str, Any],
                  listed_by_queue: Dict[Optional[str], int], work: _worklist.WorkList) -> List[str]:
    """The queues a hold takes whole with one ``postsuper -h ALL queue...`` (a quarter to a third of the cost of naming each ID): only
    when the selection is whole queues (``queues`` or ``all``, nothing excluded, no plan, no count guard) and the
    work list holds every message listed in that queue. What it holds is proved from the hold directory
    (``_postsuper.prove_whole``); mail that entered the queue after the listing is held too, as the selection
    means, and is not counted as held by this run (an incident counts it as arrived in the window)."""
    if not _whole_selection(action, selector, exclude, params):
        return []
    return sorted(queues[0] for queues, ids in work.by_queue.items()
                  if len(queues) == 1 and len(ids) == listed_by_queue.get(queues[0]))


def _steps(cli: PostfixCLI, action: _worklist.Action, work: _worklist.WorkList, batch_size: int, selector: Selector,
           whole: Sequence[str] = (), queue_directory: str = "") -> List[Any]:
    """The commands to run (each both run and shown): one per batch and per queue the messages were seen in; one
    for all the queues a hold takes whole."""
    if action.name == "flush":
        ids = work.queue_ids
        whole_deferred = selector.given.keys() <= {"queues"} and selector.given.get("queues") == ["deferred"]
        if whole_deferred and ids:
            return [cli.flush_all_step(ids)]
        return [cli.flush_step(batch) for batch in (_worklist.batches(ids, batch_size) if ids else [])]
    steps = []
    if whole:
        listed = [queue_id for queue in whole for queue_id in work.by_queue[(queue,)]]
        steps.append(cli.postsuper_whole_step(action.flag, whole, listed, queue_directory))
    for queues, ids in sorted(work.by_queue.items()):
        if len(queues) == 1 and queues[0] in whole:
            continue
        steps.extend(cli.postsuper_step(action.flag, batch, queues) for batch in _worklist.batches(ids, batch_size))
    for batch in _worklist.batches(work.requeued_long_held, batch_size) if work.requeued_long_held else []:
        steps.append(cli.postsuper_step("r", batch, ("hold",)))
    return steps


def _act(cli: PostfixCLI, work: _worklist.WorkList, steps: List[Any], params: Dict[str, Any],
         instance: Dict[str, Any]) -> Dict[str, Any]:
    """Run the steps in order, stopping at the first failure.

    Returns the result's keys for what was done - batches, queue_ids, requeued_long_held, vanished,
    pending - and ``error``: None, or the failure that stopped the run (the keys then say how far it got).
    """
    batches, outcomes, flushed = [], [], []
    throttled = work.action.name in THROTTLED and params["max_active"] is not None
    error = None
    try:
        for index, step in enumerate(steps):
            if index and params["batch_pause"]:
                time.sleep(params["batch_pause"])
            if throttled:
                cli.wait_in_flight_below(instance["queue_directory"], params["max_active"], params["max_active_timeout"])
            if step.kind != "postsuper":
                try:
                    _rc, done = cli.run_step(step)
                except PostfixError as exc:
                    done = exc.done or []
                    batches.append({"command": step.shown, "sent": len(done) + 1, "changed": len(done)})
                    flushed.extend(done)
                    raise
                batches.append({"command": step.shown, "sent": len(step.ids), "changed": len(done)})
                flushed.extend(done)
                continue
            rc, outcome = cli.run_step(step)
            outcomes.append((step.flag, step.ids, outcome))
            batches.append({"command": step.shown, "sent": len(step.ids),
                            "changed": len(_worklist.reported(step.flag, outcome).intersection(step.ids))})
            if rc != 0 or outcome.fatal or not outcome.consistent or outcome.other:
                raise PostfixError("%s stopped part-way (exit %s): %s" % (
                    step.shown, rc,
                    outcome.fatal or "; ".join(outcome.other) or "its totals disagree with its per-message lines"))
    except MailopsError as exc:
        error = exc
    if work.action.name == "flush":
        done = set(flushed)
        changed, vanished = flushed, []
        pending = [queue_id for queue_id in work.queue_ids if queue_id not in done]
    else:
        changed, vanished, pending = _worklist.account(work, outcomes, error is not None)
    long_held = set(work.requeued_long_held)
    return {"batches": batches, "queue_ids": changed, "vanished": vanished, "pending": pending,
            "requeued_long_held": [queue_id for queue_id in changed if queue_id in long_held], "error": error}
