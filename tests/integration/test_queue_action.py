# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postfix_queue_action through ansible-playbook, over real SSH, on a real Postfix.

The queue is frozen (qmgr and pickup disabled) while actions run, so every
change seen is the action's own.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import os
import socket
import stat

import pytest

JUNK = "junk@spam.example"
LEGIT = "alice@example.org"
QUEUE_DIRS = ("maildrop", "incoming", "active", "deferred", "hold", "defer", "bounce")


def spool_digest(root="/var/spool/postfix"):
    """A digest of every queue file's path and bytes: 'byte-identical queue' made checkable.

    The delivery logs (defer/, bounce/) count for the messages that are queued. A log of a message that
    is no longer queued is left out: a delivery agent of an earlier test, stuck on the slow sink with a
    message that test deleted since, writes one when it times out - at any time, nothing to do with the
    test running then.
    """
    digest = hashlib.sha256()
    queued = set()
    for name in QUEUE_DIRS[:5]:
        for _directory, _dirs, files in os.walk(os.path.join(root, name)):
            queued.update(files)
    for name in QUEUE_DIRS:
        for directory, dirs, files in sorted(os.walk(os.path.join(root, name))):
            dirs.sort()
            for filename in sorted(files):
                if name in ("defer", "bounce") and filename not in queued:
                    continue
                path = os.path.join(directory, filename)
                digest.update(path.encode())
                with open(path, "rb") as handle:
                    digest.update(handle.read())
    return digest.hexdigest()


def states(queue):
    return dict((m["queue_id"], (m["queue_name"], m["forced_expire"])) for m in queue)


@pytest.fixture()
def frozen_queue(postfix):
    """12 junk and 6 legitimate messages deferred, 3 of each held by postsuper; then frozen."""
    postfix.reset()
    postfix.smtp_source(12, JUNK, "victim@target.example", recipients_each=2)
    for index in range(6):
        postfix.smtp(LEGIT, ["customer%d@example.net" % index])
    postfix.settled({"deferred": 18}, senders=[JUNK, LEGIT])
    queue = postfix.queue()
    to_hold = [m["queue_id"] for m in queue if m["sender"] == JUNK][:3] + \
        [m["queue_id"] for m in queue if m["sender"] == LEGIT][:3]
    postfix.postsuper("-h", "-", data="".join(i + "\n" for i in to_hold))
    postfix.settled({"deferred": 12, "hold": 6})
    postfix.freeze()
    yield postfix
    postfix.thaw()


def four_runs(playbook, **options):
    out = playbook("postfix_queue_action", scenario="four_runs", options=options)["results"]
    return out["before"], out["runs"], out["queues"]


def _common_checks(before, runs, queues, expected_ids):
    assert sorted(runs["check"]["queue_ids"]) == sorted(expected_ids)
    assert sorted(runs["real"]["queue_ids"]) == sorted(expected_ids)
    assert runs["real"]["changed_count"] == len(expected_ids)
    assert runs["repeat"]["changed_count"] == 0 and runs["repeat_check"]["changed_count"] == 0
    assert states(queues["check"]) == states(before)                 # check mode changed nothing
    assert states(queues["repeat"]) == states(queues["real"])        # the repeat changed nothing
    assert "diff" in runs["check"] and runs["check"]["diff"]["before"]


def test_hold(frozen_queue, playbook):
    before, runs, queues = four_runs(playbook, action="hold", sender=JUNK)
    junk = [m["queue_id"] for m in before if m["sender"] == JUNK]
    deferred_junk = [m["queue_id"] for m in before if m["sender"] == JUNK and m["queue_name"] == "deferred"]
    _common_checks(before, runs, queues, deferred_junk)
    after = states(queues["real"])
    assert all(after[i] == ("hold", False) for i in junk)
    assert all(after[m["queue_id"]] == states(before)[m["queue_id"]] for m in before if m["sender"] != JUNK)
    assert sorted(runs["real"]["vanished"]) == sorted(set(junk) - set(deferred_junk))  # already held
    assert runs["real"]["batches"][0]["command"].endswith("postsuper -h - deferred")
    assert sorted(runs["repeat"]["vanished"]) == sorted(junk)


def test_hold_of_a_whole_queue_runs_postsuper_on_all_and_proves_each_id(frozen_queue, playbook):
    """queues: [deferred] alone is the whole queue: one `postsuper -h ALL deferred` (a quarter to a third of the cost of naming
    100,000 IDs), its per-ID account proved from the hold directory; the mail already on hold is not counted."""
    before, runs, queues = four_runs(playbook, action="hold", queues=["deferred"])
    deferred = [m["queue_id"] for m in before if m["queue_name"] == "deferred"]
    _common_checks(before, runs, queues, deferred)
    assert [b["command"].split("postsuper", 1)[1] for b in runs["real"]["batches"]] == [" -h ALL deferred"]
    assert runs["real"]["listed_from"] == runs["check"]["listed_from"] == "queue directories"   # all a hold of whole
    #                                                                       queues needs: each message's queue and ID
    assert runs["real"]["batches"][0]["changed"] == len(deferred) == 12
    assert runs["check"]["batches"][0]["command"] == runs["real"]["batches"][0]["command"]
    assert all(state == ("hold", False) for state in states(queues["real"]).values())
    assert runs["repeat"]["batches"] == []            # nothing left in deferred: no postsuper at all


@pytest.mark.controller_independent
def test_hold_without_the_id_lists(frozen_queue, playbook):
    """return_ids=false (as the runbook's roles run it): no ID lists, and the counts say what they would have."""
    before, runs, queues = four_runs(playbook, action="hold", sender=JUNK, return_ids=False)
    junk = [m["queue_id"] for m in before if m["sender"] == JUNK]
    deferred_junk = [m["queue_id"] for m in before if m["sender"] == JUNK and m["queue_name"] == "deferred"]
    assert all(after == ("hold", False) for queue_id, after in states(queues["real"]).items() if queue_id in junk)
    for name in ("check", "real", "repeat", "repeat_check"):
        assert not {"queue_ids", "vanished", "pending", "requeued_long_held"} & set(runs[name]), name
    assert runs["real"]["counts"] == {"queue_ids": len(deferred_junk), "vanished": len(junk) - len(deferred_junk),
                                      "not_applicable": 0, "pending": 0, "requeued_long_held": 0, "skipped_changed": 0}
    assert runs["repeat"]["counts"]["queue_ids"] == 0 and runs["repeat"]["counts"]["vanished"] == len(junk)
    assert runs["real"]["changed_count"] == len(deferred_junk)


@pytest.mark.controller_independent
def test_exclude_by_recipient_keeps_those_messages_out(frozen_queue, playbook):
    """exclude matches on what the listing says (here the recipients' domain), as the selection does."""
    before, runs, queues = four_runs(playbook, action="hold", queues=["deferred"], all=True,
                                     exclude={"recipient_domain": ["example.net"]})
    deferred = [m for m in before if m["queue_name"] == "deferred"]
    deferred_junk = [m["queue_id"] for m in deferred if m["sender"] == JUNK]
    _common_checks(before, runs, queues, deferred_junk)
    assert runs["real"]["excluded"] == len(deferred) - len(deferred_junk) > 0
    # less than the whole queue: the IDs are named (postsuper -h ALL would take the excluded too)
    assert [b["command"].split("postsuper", 1)[1] for b in runs["real"]["batches"]] == [" -h - deferred"]
    after = states(queues["real"])
    assert all(after[m["queue_id"]] == ("deferred", False) for m in deferred if m["sender"] == LEGIT)


@pytest.mark.controller_independent
def test_release(frozen_queue, playbook):
    before, runs, queues = four_runs(playbook, action="release", sender=LEGIT, batch_size=2)
    held = [m["queue_id"] for m in before if m["sender"] == LEGIT and m["queue_name"] == "hold"]
    _common_checks(before, runs, queues, held)
    assert len(runs["real"]["batches"]) == 2                           # 3 IDs in batches of 2
    assert all(states(queues["real"])[i] == ("deferred", False) for i in held)   # same IDs kept
    assert runs["real"]["requeued_long_held"] == []


@pytest.mark.controller_independent
def test_requeue(frozen_queue, playbook):
    before, runs, queues = four_runs(playbook, action="requeue", queues=["hold"], sender=LEGIT)
    held = [m for m in before if m["sender"] == LEGIT and m["queue_name"] == "hold"]
    _common_checks(before, runs, queues, [m["queue_id"] for m in held])
    # -r moves the file to maildrop; pickup (frozen here) would give it a new ID and a new arrival time
    after = states(queues["real"])
    assert all(after[m["queue_id"]] == ("maildrop", False) for m in held)
    # pickup is disabled here, so it cannot be woken: the module says so and the requeue stands
    assert any("waits in maildrop until pickup runs" in str(w) for w in runs["real"].get("warnings", []))


def test_delete(frozen_queue, playbook, postfix):
    before, runs, queues = four_runs(playbook, action="delete", sender=JUNK, max_messages=12)
    junk = [m["queue_id"] for m in before if m["sender"] == JUNK]
    _common_checks(before, runs, queues, junk)
    assert [m["sender"] for m in queues["real"]] == [LEGIT] * 6
    assert runs["real"]["diff"]["after"].count("(deleted)") == 12


@pytest.mark.controller_independent
def test_expire_and_expire_release(frozen_queue, playbook):
    before, runs, queues = four_runs(playbook, action="expire", sender=JUNK, queues=["deferred"])
    deferred_junk = [m["queue_id"] for m in before if m["sender"] == JUNK and m["queue_name"] == "deferred"]
    _common_checks(before, runs, queues, deferred_junk)
    assert all(states(queues["real"])[i] == ("deferred", True) for i in deferred_junk)
    before, runs, queues = four_runs(playbook, action="expire_release", sender=JUNK, queues=["hold"])
    held_junk = [m["queue_id"] for m in before if m["sender"] == JUNK and m["queue_name"] == "hold"]
    _common_checks(before, runs, queues, held_junk)
    assert all(states(queues["real"])[i] == ("deferred", True) for i in held_junk)


@pytest.mark.controller_independent
def test_flush_asks_for_delivery_now(frozen_queue, playbook, postfix):
    postfix.thaw()
    log = "/var/log/postfix-mailops-test.log"
    target = [m for m in postfix.queue() if m["sender"] == LEGIT and m["queue_name"] == "deferred"][0]["queue_id"]
    before = open(log).read().count("%s: to=" % target)
    out = playbook("postfix_queue_action", scenario="one_call", options={"action": "flush", "queue_ids": [target]})
    outcome = out["results"]["outcome"]
    assert outcome["changed_count"] == 1 and outcome["queue_ids"] == [target]
    assert outcome["batches"][0]["command"].endswith("postqueue -i ID (run once per ID: 1 run)")
    # Postfix attempted the delivery at once (it fails again: nothing listens on the relay port)
    import live_postfix
    live_postfix.wait_for(lambda: open(log).read().count("%s: to=" % target) > before, 60, "a delivery attempt")


@pytest.mark.controller_independent
def test_race_a_message_deleted_between_listing_and_acting(frozen_queue, playbook, tmp_path):
    """A real concurrent postsuper -d runs after the module listed the queue, before it acts."""
    queue = frozen_queue.queue()
    junk = sorted(m["queue_id"] for m in queue if m["sender"] == JUNK and m["queue_name"] == "deferred")
    victim = junk[0]
    wrapper = tmp_path / "postsuper"
    wrapper.write_text("#!/bin/sh\n/usr/sbin/postsuper -d %s >/dev/null 2>&1\nexec /usr/sbin/postsuper \"$@\"\n" % victim)
    wrapper.chmod(stat.S_IRWXU)
    out = playbook("postfix_queue_action", scenario="one_call",
                   options={"action": "hold", "sender": JUNK, "postfix_tool_paths": {"postsuper": str(wrapper)}})
    outcome = out["results"]["outcome"]
    assert outcome["matched"] == 12
    assert victim in outcome["vanished"] and victim not in outcome["queue_ids"], (
        victim, dict((k, v) for k, v in outcome.items() if k != "diff"))
    assert sorted(outcome["queue_ids"]) == junk[1:]
    assert victim not in [m["queue_id"] for m in frozen_queue.queue()]


BAD_INPUT = [
    ({"action": "hold", "queue_ids": ["ALL"]}, "queue_ids: not a Postfix queue ID"),
    ({"action": "delete", "queue_ids": ["ALL"]}, "queue_ids: not a Postfix queue ID"),
    ({"action": "hold", "queue_ids": ["8fb47160045"]}, "queue_ids: not a Postfix queue ID"),
    ({"action": "delete", "queue_ids": ["ABC123; rm -rf /"]}, "queue_ids: not a Postfix queue ID"),
    ({"action": "delete", "queue_ids": ["$(reboot)"]}, "queue_ids: not a Postfix queue ID"),
    ({"action": "delete", "queue_ids": ["`id`"]}, "queue_ids: not a Postfix queue ID"),
    ({"action": "delete", "queue_ids": ["../../etc/passwd"]}, "queue_ids: not a Postfix queue ID"),
    ({"action": "delete", "queue_ids": ["8FB47160045*"]}, "queue_ids: not a Postfix queue ID"),
    ({"action": "delete", "queue_ids": ["8FB47160045 8FB47160046"]}, "queue_ids: not a Postfix queue ID"),
    ({"action": "delete", "queue_ids": ["8FB47160045\nALL"]}, "queue_ids: not a Postfix queue ID"),
    ({"action": "delete", "queue_ids": [""]}, "queue_ids: not a Postfix queue ID"),
    ({"action": "delete", "queue_ids": ["-"]}, "queue_ids: not a Postfix queue ID"),
    ({"action": "delete", "queue_ids": []}, "queue_ids: an empty list selects nothing"),
    ({"action": "hold", "sender_regex": "(unclosed"}, "sender_regex: invalid regular expression"),
    ({"action": "hold", "reason_regex": "*"}, "reason_regex: invalid regular expression"),
    ({"action": "hold", "older_than": "3 days"}, "older_than: expected a duration"),
    ({"action": "hold", "younger_than": "-1h"}, "younger_than: expected a duration"),
    ({"action": "hold", "min_size": "10MB"}, "min_size: expected a size"),
    ({"action": "hold", "queues": ["held"]}, "value of queues must be one or more of"),
    ({"action": "purge", "sender": JUNK}, "value of action must be one of"),
    ({"sender": JUNK}, "missing required arguments: action"),
    ({"action": "delete"}, "no selection option was given"),
    ({"action": "expire"}, "no selection option was given"),
    ({"action": "expire_release"}, "no selection option was given"),
    ({"action": "hold"}, "no selection option was given"),
    ({"action": "delete", "sender": JUNK, "max_messages": 11}, "more than max_messages=11"),
    ({"action": "delete", "sender": JUNK, "expect_count": 13}, "not expect_count=13"),
    ({"action": "hold", "older_than": "2h", "younger_than": "1h"}, "must be less than younger_than"),
    ({"action": "hold", "min_size": "2k", "max_size": "1k"}, "larger than max_size"),
    ({"action": "hold", "sender": JUNK, "batch_size": 0}, "batch_size must be at least 1"),
    ({"action": "hold", "sender": JUNK, "config_dir": "/etc/postfix-nonexistent"}, "check config_dir"),
    ({"action": "hold", "sender": JUNK, "postfix_bin_dir": "/nonexistent"}, "postconf not found"),
    ({"action": "hold", "sender": JUNK, "all": "maybe"}, "all"),
    ({"action": "archive", "sender": JUNK}, "action is archive but all of the following are missing: archive_dir"),
    ({"action": "hold", "sender": JUNK, "archive_dir": "/var/tmp/mailops-archive"}, "archive_dir is for action=archive"),
    ({"action": "reinject"}, "action is reinject but all of the following are missing: archive"),
    ({"action": "delete", "sender": JUNK, "plan": {"format": 1}}, "parameters are mutually exclusive: plan|sender"),
    ({"action": "hold", "sender": JUNK, "archive": "/var/tmp"}, "archive (an archive to re-inject) is only for"),
    ({"action": "reinject", "archive": "/nonexistent/archive"}, "cannot read the archive's manifest"),
    ({"action": "reinject", "archive": "/var/tmp", "sender": JUNK}, "reinject takes archive and optionally queue_ids"),
]


def refused_each(playbook, cases):
    """Run postfix_queue_action once per case (options, words) in one playbook: each must fail with its words, no
    traceback, nothing changed. Returns the playbook's output."""
    out = playbook("postfix_queue_action", scenario="bad_inputs", cases=[options for options, _words in cases])
    outcomes = out["results"]["outcomes"]
    assert len(outcomes) == len(cases)
    for (options, words), outcome in zip(cases, outcomes):
        assert outcome["failed"] is True, options
        assert words in outcome["msg"], (options, outcome["msg"])
        assert outcome.get("changed_count", 0) == 0 and "Traceback" not in outcome["msg"], options
    assert "Traceback" not in out["output"]
    return out


def test_bad_input(frozen_queue, playbook):
    """Each bad input: a clear message, no traceback, nothing changed; the spool is byte-identical after all."""
    assert len(BAD_INPUT) >= 25
    before = spool_digest()
    refused_each(playbook, BAD_INPUT)
    assert spool_digest() == before


@pytest.mark.controller_independent
def test_not_root_is_refused_and_changes_nothing(frozen_queue, playbook):
    before = spool_digest()
    out = playbook("postfix_queue_action", hosts="mailhost_nonroot", scenario="one_call",
                   options={"action": "hold", "sender": JUNK}, allow_failure=True)
    outcome = out["results"]["outcome"]
    assert outcome["failed"] is True
    assert "use of this command is reserved for the superuser" in outcome["msg"]
    assert outcome["changed_count"] == 0 and outcome["matched"] == 12
    assert spool_digest() == before


def test_postfix_stopped_with_an_unwritable_log_is_refused(frozen_queue, playbook):
    """postsuper would act on one message and die (the stopped_* captures): refused before any change."""
    frozen_queue.stop()
    try:
        before = spool_digest()
        out = playbook("postfix_queue_action", scenario="one_call", options={"action": "hold", "sender": JUNK},
                       allow_failure=True)
        outcome = out["results"]["outcome"]
        assert outcome["failed"] is True
        assert "Postfix is stopped and its maillog_file" in outcome["msg"]
        assert spool_digest() == before
    finally:
        frozen_queue.start()


def _manifest(path):
    import json
    with open(path) as handle:
        return json.load(handle)


def test_delete_with_archive_then_reinject(frozen_queue, playbook, postfix, tmp_path):
    """Purge with a copy, then the way back: re-injected mail is delivered with the same envelope."""
    import tempfile
    import live_postfix
    from conftest import STATE
    # smtp-sink writes as the postfix user: its directory must be reachable by it (pytest's tmp_path is not)
    sink = live_postfix.DumpSink(tempfile.mkdtemp(prefix="sink-", dir=STATE))
    os.chmod(sink.directory, 0o755)
    sink.start()
    try:
        # the queue is frozen: the two messages wait in incoming, and are held from there
        postfix.smtp("purge-me@example.org", ["a@sink.example", "b@sink.example"], subject="one",
                     body="first body\n")
        postfix.smtp("purge-me@example.org", ["c@sink.example"], subject="two", body="second body\n")
        postfix.smtp("", ["d@sink.example"], subject="a bounce", body="third body\n")   # the null sender
        postfix.settled({"deferred": 12, "hold": 6, "incoming": 3})
        incoming = [m["queue_id"] for m in postfix.queue() if m["queue_name"] == "incoming"]
        postfix.postsuper("-h", "-", data="".join(i + "\n" for i in incoming))
        postfix.settled({"deferred": 12, "hold": 9})
        before = [m for m in postfix.queue() if m["recipients"][0]["address"].endswith("@sink.example")]
        archive_dir = str(tmp_path / "archive")
        before_runs, runs, queues = four_runs(playbook, action="delete", recipient_domain="sink.example",
                                              archive_dir=archive_dir)
        ids = sorted(m["queue_id"] for m in before)
        assert sorted(runs["real"]["queue_ids"]) == ids
        archive = runs["real"]["archive"]
        # ARCHIVE_DIR/HOST/INSTANCE/STAMP: private to root, directories 0700, files 0600
        assert archive["count"] == 3
        assert archive["directory"].startswith("%s/%s/postfix/" % (archive_dir, socket.gethostname()))
        for directory, _dirs, files in os.walk(archive_dir):
            assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700, directory
            assert all(stat.S_IMODE(os.stat(os.path.join(directory, f)).st_mode) == 0o600 for f in files), files
        assert runs["check"]["archive"] == {"directory": None, "count": 3, "manifest": None}
        assert runs["repeat"]["changed_count"] == 0 and "archive" in runs["repeat"]
        manifest = _manifest(archive["manifest"])
        assert sorted(e["queue_id"] for e in manifest["messages"]) == ids
        for entry in manifest["messages"]:
            original = [m for m in before if m["queue_id"] == entry["queue_id"]][0]
            assert entry["recipients"] == [r["address"] for r in original["recipients"]]
            assert entry["envelope_sender"] == ("" if original["sender"] == "MAILER-DAEMON" else original["sender"])
            assert entry["arrival_time"] == original["arrival_time"]
        assert not [m for m in postfix.queue() if m["recipients"][0]["address"].endswith("@sink.example")]
        postfix.thaw()
        # the way back: re-inject (check mode first, then real, then a repeat that sends nothing twice)
        check = playbook("postfix_queue_action", scenario="one_call",
                         options={"action": "reinject", "archive": archive["directory"]}, check_mode=True)
        real = playbook("postfix_queue_action", scenario="one_call",
                        options={"action": "reinject", "archive": archive["manifest"]})["results"]["outcome"]
        assert real["changed_count"] == 3 and sorted(real["queue_ids"]) == ids
        again = playbook("postfix_queue_action", scenario="one_call",
                         options={"action": "reinject", "archive": archive["directory"]})["results"]["outcome"]
        assert again["changed_count"] == 0 and sorted(again["vanished"]) == ids
        assert check["results"]["outcome"]["changed_count"] == 3
        live_postfix.wait_for(lambda: len(sink.messages()) == 3, 60, "3 re-injected messages at the sink")
        # same envelope, same body as archived (the sink's dump ends each message with a blank line)
        delivered = sorted((s, sorted(r), body.split(b"\n\n", 1)[1].rstrip(b"\n")) for s, r, body in sink.messages())
        archived = []
        for entry in manifest["messages"]:
            # the batch's mbox file: the message's bytes at its offset, after its From line
            with open(os.path.join(archive["directory"], entry["file"]), "rb") as handle:
                mbox = handle.read()
            assert mbox[:entry["offset"]].rsplit(b"\n", 2)[-2].startswith(b"From ")
            content = mbox[entry["offset"]:entry["offset"] + entry["length"]]
            body = content.split(b"\n\n", 1)[1].rstrip(b"\n")
            archived.append((entry["envelope_sender"], sorted(entry["recipients"]), body))
        assert delivered == sorted(archived)
        assert [(sender, body) for sender, _r, body in delivered] == [
            ("", b"third body"), ("purge-me@example.org", b"first body"), ("purge-me@example.org", b"second body")]
    finally:
        sink.stop()


@pytest.mark.controller_independent
def test_archive_only_changes_nothing_in_the_queue(frozen_queue, playbook, tmp_path):
    before = spool_digest()
    out = playbook("postfix_queue_action", scenario="one_call",
                   options={"action": "archive", "sender": LEGIT, "archive_dir": str(tmp_path)})["results"]["outcome"]
    assert out["archive"]["count"] == 6 and len(out["queue_ids"]) == 6
    assert spool_digest() == before
    manifest = _manifest(out["archive"]["manifest"])
    assert all(entry["sender"] == LEGIT for entry in manifest["messages"])


@pytest.mark.controller_independent
def test_message_gone_before_postcat_is_vanished_and_the_rest_archived(frozen_queue, playbook, tmp_path):
    """postcat dies at the first missing ID; the module names it vanished and goes on with the rest."""
    queue = frozen_queue.queue()
    junk = sorted(m["queue_id"] for m in queue if m["sender"] == JUNK)
    victim = junk[5]
    wrapper = tmp_path / "postcat"
    wrapper.write_text("#!/bin/sh\n/usr/sbin/postsuper -d %s >/dev/null 2>&1\nexec /usr/sbin/postcat \"$@\"\n" % victim)
    wrapper.chmod(stat.S_IRWXU)
    out = playbook("postfix_queue_action", scenario="one_call",
                   options={"action": "delete", "sender": JUNK, "archive_dir": str(tmp_path / "a"),
                            "postfix_tool_paths": {"postcat": str(wrapper)}})["results"]["outcome"]
    assert out["archive"]["count"] == 11 and victim in out["vanished"]
    assert sorted(out["queue_ids"]) == sorted(set(junk) - {victim})
    assert not [m for m in frozen_queue.queue() if m["sender"] == JUNK]


@pytest.mark.controller_independent
def test_unwritable_archive_dir_deletes_nothing(frozen_queue, playbook, tmp_path):
    before = spool_digest()
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    out = playbook("postfix_queue_action", scenario="one_call", allow_failure=True,
                   options={"action": "delete", "sender": JUNK, "archive_dir": str(blocked / "sub")})
    outcome = out["results"]["outcome"]
    assert outcome["failed"] is True and "nothing was deleted" in outcome["msg"]
    assert outcome["changed_count"] == 0
    assert spool_digest() == before


@pytest.mark.controller_independent
def test_flush_of_the_whole_deferred_queue_uses_postqueue_f(frozen_queue, playbook):
    frozen_queue.thaw()    # a flush talks to qmgr
    out = playbook("postfix_queue_action", scenario="one_call", options={"action": "flush", "queues": ["deferred"]})
    outcome = out["results"]["outcome"]
    assert [b["command"].split("/")[-1] for b in outcome["batches"]] == ["postqueue -f"]
    assert outcome["changed_count"] == 12


@pytest.mark.controller_independent
def test_back_pressure_waits_for_active_and_incoming(frozen_queue, playbook, postfix):
    """max_active: before each batch, wait until active + incoming is below the bound (with a timeout)."""
    postfix.smtp("late@example.org", ["x@example.net"])          # frozen: it stays in incoming
    postfix.settled({"deferred": 12, "hold": 6, "incoming": 1})
    before = spool_digest()
    out = playbook("postfix_queue_action", scenario="one_call", allow_failure=True,
                   options={"action": "release", "sender": LEGIT, "max_active": 1, "max_active_timeout": 2})
    outcome = out["results"]["outcome"]
    assert outcome["failed"] is True and "stayed at 1 (max_active 1)" in outcome["msg"]
    assert outcome["changed_count"] == 0 and len(outcome["pending"]) == 3
    assert spool_digest() == before
    out = playbook("postfix_queue_action", scenario="one_call",
                   options={"action": "release", "sender": LEGIT, "max_active": 2, "batch_size": 1})
    assert out["results"]["outcome"]["changed_count"] == 3 and len(out["results"]["outcome"]["batches"]) == 3


@pytest.mark.controller_independent
def test_postsuper_dying_part_way_reports_what_was_done(frozen_queue, playbook, tmp_path):
    """The stopped_* captures, live: Postfix stops after the module's checks, right before postsuper runs.

    With its maillog_file not writable by postfix, postsuper acts on the first ID and dies: the module
    fails with the partial accounting (1 changed, the rest pending), and the queue agrees.
    """
    queue = frozen_queue.queue()
    junk = [m["queue_id"] for m in queue if m["sender"] == JUNK and m["queue_name"] == "deferred"]
    wrapper = tmp_path / "postsuper"
    # postfix stop only signals the master: wait (60 s at most) until it is gone, then run the real postsuper
    wrapper.write_text("#!/bin/sh\npostfix stop >/dev/null 2>&1\n"
                       "i=0; while postfix status >/dev/null 2>&1 && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n"
                       "exec /usr/sbin/postsuper \"$@\"\n")
    wrapper.chmod(stat.S_IRWXU)
    try:
        out = playbook("postfix_queue_action", scenario="one_call", allow_failure=True,
                       options={"action": "hold", "sender": JUNK, "queues": ["deferred"],
                                "postfix_tool_paths": {"postsuper": str(wrapper)}})
        outcome = out["results"]["outcome"]
        assert outcome["failed"] is True and "stopped part-way (exit 1)" in outcome["msg"]
        assert "open logfile" in outcome["msg"]
        assert outcome["changed_count"] == 1 and outcome["batches"][0]["changed"] == 1
        (first,) = outcome["queue_ids"]
        assert sorted(outcome["pending"]) == sorted(set(junk) - {first}) and outcome["vanished"] == []
        after = states(frozen_queue.queue())
        assert after[first] == ("hold", False)
        assert all(after[i] == ("deferred", False) for i in junk if i != first)
    finally:
        frozen_queue.start()
