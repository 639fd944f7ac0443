# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""postfix_queue_action's ``incident`` option: what the incident lets one run touch, and what the run tells its
ledger. The ledger's rules are _incident's (pure decisions and the file); this is their use by one action run.
"""

from __future__ import absolute_import, division, print_function

from typing import Any, Dict, Iterable, Iterator, List, Optional, Set, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils import _archive, _incident, _verdicts
from ansible_collections.mailops.postfix.plugins.module_utils._postcat import QueueFile
from ansible_collections.mailops.postfix.plugins.module_utils._queue import Message, compact
from ansible_collections.mailops.postfix.plugins.module_utils._selection import HEADERS, Selector

RELEASING = ("requeue", "release", "expire_release", "flush")


def source_of(queue_file: QueueFile) -> str:
    """Who sent a message, as the release guard counts sources: its SASL login; else, for network mail, its original
    client; for mail submitted with sendmail, the submitting uid; Postfix's own notices are one source."""
    login = queue_file["attributes"].get("sasl_username")
    if login:
        return "sasl_username:" + login.lower()
    if queue_file["origin"] == "smtp":
        return "client_address:" + (queue_file["attributes"].get("log_client_address")
                                    or queue_file["attributes"].get("client_address"))
    if queue_file["origin"] == "local":
        return "local_uid:%s" % ("unknown" if queue_file["local_uid"] is None else queue_file["local_uid"])
    return "internal"


class IncidentScope:
    """The incident option of one run: its ledger on the host, read before and written after acting."""

    def __init__(self, options: Dict[str, Any], instance: Dict[str, Any], now: float, check_mode: bool, read: Any,
                 action_name: str = "") -> None:
        self.options = options
        self.read = read          # read(messages, tier): (message, queue file or None), see _content.read
        self.now = now
        self.check_mode = check_mode
        self.path = _incident.ledger_path(options["state_dir"], instance["name"])
        self.ledger = _incident.read_ledger(self.path, instance)
        self.instance = instance
        self.junk = Selector.from_options(options["junk"], "incident.junk", now) if options["junk"] else None
        # the first purge counts the junk the hold recorded among what the incident still holds: the bound of a purge
        recorded = _incident.junk_to_count(self.ledger) if action_name == "delete" and self.ledger is not None else None
        self.counted_junk = Selector.from_options(recorded["options"], "the incident's junk (recorded by its hold)",
                                                  recorded["time"]) if recorded else None
        self.hold_ids: List[str] = []
        # what is on hold and the recorded junk's envelope matches - compact, as the selection keeps what it selected:
        # the listing's parsed messages are not kept alive by it (100,000 held: ~110 MiB less at the purge's peak)
        self.junk_candidates: List[Message] = []
        self.window_part: List[str] = []
        self.guarded: Dict[str, List[str]] = {}
        self.junk_reading: Optional[Dict[str, int]] = None
        # what the origin and content options found in the queue files already read (the assessment's, an earlier
        # run's): taken instead of reading them again; this run's readings are kept for the next
        self.verdicts = _verdicts.Verdicts(_verdicts.path_for(options["state_dir"], instance["name"]))
        self.listed_ids: Set[str] = set()

    @property
    def selectors(self) -> List[Optional[Selector]]:
        """The incident's own selectors (the given junk, the recorded junk a purge counts): for the CPU budget."""
        return [self.junk, self.counted_junk]

    def note_listing(self, listed: Iterable[Message]) -> Iterator[Message]:
        """Pass the listing through, noting what is on hold (and, when this purge counts the recorded junk, what on hold
        its envelope matches)."""
        for message in listed:
            self.listed_ids.add(message["queue_id"])
            if message["queue_name"] == "hold":
                self.hold_ids.append(message["queue_id"])
                if self.counted_junk is not None and self.counted_junk.matches(message):
                    self.junk_candidates.append(compact(message))
            yield message

    def refuse_unless_allowed(self, action_name: str) -> None:
        """Account for an interrupted run's write-ahead entry; refuse an action the incident's state does not allow."""
        interrupted = _incident.account_interrupted(self.ledger, self.hold_ids) if self.ledger is not None and not self.check_mode else None
        if interrupted:                                         # an earlier run was killed half-way
            if interrupted["action"] == "delete" and interrupted.get("archive") and interrupted["not_done"]:
                # its archive holds messages it never deleted: this run archives them again when it purges them
                _archive.withdraw(interrupted["archive"], interrupted["not_done"],
                                  "not deleted: the purge was interrupted first; a later archive holds it")
            _incident.write_ledger(self.path, self.ledger)
        if self.ledger is None:
            if not self.check_mode:
                raise _incident.IncidentError(
                    "there is no incident on %s (no %s): open one first (postfix_incident state=open)"
                    % (self.instance["config_dir"], self.path))
            # check mode before the incident opens: what is on hold now would be its earlier hold
            self.ledger = _incident.new_ledger("(not opened)", self.instance, self.now, self.hold_ids, [], False, {}, None)
        if action_name in RELEASING and self.ledger["window"] and self.ledger["window_ended"] is None:
            raise _incident.IncidentError(
                "the incident window of %s is still open: mail released now would be held again at once. "
                "End the window first (postfix_incident state=closed); nothing was changed" % self.instance["config_dir"])

    def restrict(self, action_name: str, selected: List[Message]) -> Tuple[List[Message], Dict[str, Any]]:
        """The selected messages this run may act on: never the earlier hold (unless included), only the scope's part;
        a purge never wider than the junk held; a release keeps on hold what the guard holds back. Returns (the
        messages, the result's incident summary)."""
        kept, quarantined = _incident.narrow(self.ledger, selected, self.options["scope"],
                                             self.options["include_quarantine"])
        if action_name in RELEASING and self.options.get("guard_max_per_source"):
            kept = self._guard(kept)
        _q, in_held, in_window = _incident.classify(self.ledger, kept)
        self.window_part = [message["queue_id"] for message in in_window]
        if action_name == "hold" and self.junk is not None:
            _incident.record_junk(self.ledger, self.options["junk"], self.now)
        if action_name == "delete" and self.counted_junk is not None and in_held:
            self._count_junk_held(self.ledger, self.counted_junk)
        if action_name == "delete":
            _incident.purge_guard(self.ledger, kept)
        summary = {"incident_id": self.ledger["incident_id"], "ledger": self.path,
                   "excluded_quarantine": quarantined, "selected_held": len(in_held),
                   "selected_window": len(in_window), "junk_held": self.ledger.get("junk_held")}
        if self.junk_reading is not None:
            summary["junk_reading"] = self.junk_reading
        if action_name in RELEASING and self.options.get("guard_max_per_source"):
            summary["guarded"] = [{"source": source, "messages": len(ids)} for source, ids in sorted(self.guarded.items())]
        return kept, summary

    def _count_junk_held(self, ledger: Dict[str, Any], junk: Selector) -> None:
        """The first purge that selects messages the incident held: how many of them still on hold the junk its hold
        recorded matches (their queue files read when its options need them and no verdict of an earlier reading
        holds; the listed sizes bound how many whole messages one postcat prints), as the ledger's ``junk_held`` - the
        bound of every purge of the incident. A held queue file never changes, and what left the hold can not be
        purged, so the count is the one the hold would have made, less what left the hold since.
        ``junk_reading`` says how many verdicts were remembered, read and gone."""
        held = set(ledger["held"])
        candidates = [message for message in self.junk_candidates if message["queue_id"] in held]
        if junk.needs is None:
            ledger["junk_held"] = len(candidates)
            return
        self.junk_reading = {}
        ledger["junk_held"] = _verdicts.count(self.verdicts, junk, candidates, self.read, self.junk_reading)

    def _guard(self, kept: List[Message]) -> List[Message]:
        """The release guard: what arrived in the window, grouped by source (login, client, local uid); a source with
        more arrivals than guard_max_per_source - a second compromised account that started during the run - stays on
        hold, unless the operator named it in release_guarded. The approved junk is not released anyway."""
        _q, _held, in_window = _incident.classify(self.ledger, kept)
        sources: Dict[str, List[str]] = {}
        for message, queue_file in self.read(in_window, HEADERS):
            if queue_file is not None:
                sources.setdefault(source_of(queue_file), []).append(message["queue_id"])
        allowed = set(self.options.get("release_guarded") or [])
        self.guarded = {source: sorted(ids) for source, ids in sources.items()
                        if len(ids) > self.options["guard_max_per_source"] and source not in allowed}
        held_back = {queue_id for ids in self.guarded.values() for queue_id in ids}
        return [message for message in kept if message["queue_id"] not in held_back]

    def write_ahead(self, action_name: str, ids: List[str], archive: Optional[str] = None) -> None:
        """Before the first batch: what this run is about to do (and the archive holding it), so that a run killed
        half-way is accounted for."""
        if self.check_mode or self.ledger is None or not ids:
            return
        _incident.intend(self.ledger, action_name, ids, self.now, archive)
        _incident.write_ledger(self.path, self.ledger)

    def withdraw_ahead(self) -> None:
        """Take back the write-ahead entry of a run that stopped before acting (its archive failed)."""
        if self.check_mode or self.ledger is None or not self.ledger.pop("pending", None):
            return
        _incident.write_ledger(self.path, self.ledger)

    def record_outcome(self, action_name: str, result: Dict[str, Any], ok: bool = True) -> Optional[str]:
        """What Postfix reported changed (and the window arrivals seen), written to the ledger; then the verdicts this
        run read kept for the next (returns None, or the warning that they could not be)."""
        if self.check_mode or self.ledger is None:
            return None
        if action_name in RELEASING and self.options.get("guard_max_per_source"):
            self.ledger["guarded"] = self.guarded
        _incident.record(self.ledger, action_name, result["queue_ids"], self.window_part, self.now,
                         {"matched": result["matched"], "plan_id": result.get("plan_id"), "ok": ok})
        _incident.write_ledger(self.path, self.ledger)
        return self.verdicts.save(self.listed_ids)
