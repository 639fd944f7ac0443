# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The postsuper stderr parser on the 76 real postsuper runs of postsuper_semantics.jsonl."""

from __future__ import absolute_import, division, print_function

import shlex

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils._listing import parse_json_lines, parse_mailq
from ansible_collections.mailops.postfix.plugins.module_utils._postsuper import (
    OPERATIONS, merge_whole, parse_postsuper, passed_over, prove_whole)
from ansible_collections.mailops.postfix.tests.unit import captures

CASES = captures.semantics()
RUNS = sorted(name for name, case in CASES.items() if case.get("cmd", "").startswith("postsuper"))


def _flags(cmd):
    words = shlex.split(cmd)
    return [w[1] for w in words[1:] if w.startswith("-") and len(w) == 2 and w[1] in "dehHrf"]


def test_there_are_many_real_runs():
    assert len(RUNS) >= 45


@pytest.mark.parametrize("name", RUNS)
def test_every_real_run_parses_without_unknown_lines(name):
    case = CASES[name]
    outcome = parse_postsuper(case["stderr"])
    if name == "postsuper_bad_flag":
        # getopt's own complaint is not a postsuper line
        assert outcome.other == ["postsuper: invalid option -- 'x'"] and outcome.fatal.startswith("usage:")
        return
    assert outcome.other == [], outcome.other
    if "ALL" in case["cmd"].split():
        # ALL prints totals only: a per-ID accounting cannot use it (the modules never do)
        assert not any(outcome.ids(flag) for flag in OPERATIONS) and not outcome.consistent or \
            all(not t for t in outcome.totals.values())
    else:
        assert outcome.consistent
    if case["rc"] != 0:
        assert outcome.fatal


# mixed_ops_one_call holds then releases one ID in the same call: reported twice, unchanged in the end
@pytest.mark.parametrize("name", [n for n in RUNS if "before" in CASES[n] and "after" in CASES[n]
                                  and n != "mixed_ops_one_call"])
def test_reported_ids_are_exactly_the_messages_that_changed(name):
    case = CASES[name]
    outcome = parse_postsuper(case["stderr"])
    before, after = case["before"], case["after"]
    reported = set()
    for flag in OPERATIONS:
        reported.update(outcome.ids(flag))
    flags = _flags(case["cmd"])
    if flags and set(flags) <= {"e"}:
        # -e marks the message; its queue does not change
        moved = set(i for i in reported if before.get(i) is not None)
    else:
        moved = set(i for i in before if before[i] != after.get(i))
    if "ALL" in case["cmd"].split():
        assert reported == set()        # no per-ID lines for ALL, only totals
    else:
        assert reported == moved


def test_hold_of_held_mail_changes_nothing():
    outcome = parse_postsuper(CASES["hold_already_held"]["stderr"])
    assert outcome.ids("h") == [] and outcome.totals["h"] == 0 and outcome.consistent


def test_expire_release_reports_both():
    outcome = parse_postsuper(CASES["expire_held_f"]["stderr"])
    assert outcome.ids("e") == ["107761720CF"] and outcome.ids("H") == ["107761720CF"]
    assert outcome.totals["e"] == 1 and outcome.totals["H"] == 1


def test_invalid_ids_on_stdin_are_warnings():
    outcome = parse_postsuper(CASES["hold_stdin_messy"]["stderr"])
    assert outcome.ids("h") == ["1B6FA1720E1", "1CD0A1720E4"]
    assert outcome.warnings == ["invalid mail queue id: ", "invalid mail queue id:   1C01B1720E2  ",
                                "invalid mail queue id: 1C6A31720E3*"]


def test_fatal_after_acting_keeps_what_was_done():
    """Postfix stopped and its log not writable: the first ID is released, then a fatal error."""
    stderr = captures.read("stopped_postsuper-H_4ids_stdin.stderr")
    outcome = parse_postsuper(stderr)
    assert outcome.ids("H") == ["661AD172006"]
    assert outcome.totals["H"] is None
    assert outcome.fatal.startswith("open logfile '/var/log/postfix-bench.log'")


@pytest.mark.parametrize("name", ["nonroot_postsuper-h", "postsuper-d_ALL_corrupt"])
def test_fatal_only(name):
    outcome = parse_postsuper(captures.read(name + ".stderr"))
    assert outcome.fatal and not any(outcome.ids(f) for f in OPERATIONS)


def test_total_disagreeing_with_lines_is_inconsistent():
    outcome = parse_postsuper("postsuper: 1B6FA1720E1: placed on hold\npostsuper: Placed on hold: 2 messages\n")
    assert not outcome.consistent


def test_unknown_lines_are_kept_apart():
    outcome = parse_postsuper("postsuper: 1B6FA1720E1: teleported\nsomething else\n")
    assert outcome.other == ["postsuper: 1B6FA1720E1: teleported", "something else"]


# postsuper -h ALL prints its total only; what it held is proved from the hold directory. A real run: the
# second instance's deferred queue listed, `postsuper -c /etc/postfix-b -h ALL`, listed again (held: "!").
def _whole_run():
    before = parse_json_lines(captures.read("multi_b_postqueue-c-j.stdout"))
    after = parse_mailq(captures.read("multi_b_postqueue-c-p_after.stdout"))
    listed = [m["queue_id"] for m in before if m["queue_name"] == "deferred"]
    on_hold_before = [m["queue_id"] for m in before if m["queue_name"] == "hold"]
    on_hold_after = [m["queue_id"] for m in after if m["queue_name"] == "hold"]
    return captures.read("multi_b_postsuper-c_h_ALL.stderr"), listed, on_hold_before, on_hold_after


def test_hold_all_is_proved_from_the_hold_directory():
    stderr, listed, before, after = _whole_run()
    assert len(listed) == 2 and not before and sorted(after) == sorted(listed)
    assert parse_postsuper(stderr).ids("h") == []          # the real run printed no per-ID line
    outcome = prove_whole(stderr, "h", listed, before, after)
    assert outcome.ids("h") == listed and outcome.totals["h"] == 2 and outcome.consistent


def test_hold_all_counts_only_what_was_listed_and_newly_held():
    stderr, listed, before, after = _whole_run()
    # one listed message left the queue before postsuper ran (delivered): not proved, the total says 1
    outcome = prove_whole(stderr.replace("2 messages", "1 message"), "h", listed, before, after[:1])
    assert outcome.ids("h") == after[:1] and outcome.consistent
    # a message already on hold before (the operator's own) is never counted as held by this run
    outcome = prove_whole(stderr, "h", listed, before + listed[:1], after)
    assert outcome.ids("h") == listed[1:]
    # one that entered the queue after the listing and was held too: in postsuper's total, not in the proof
    outcome = prove_whole(stderr.replace("2 messages", "3 messages"), "h", listed, before, after + ["4jcpGJ5qLszBrJf"])
    assert outcome.ids("h") == listed and outcome.consistent


def test_hold_all_total_smaller_than_the_proof_is_inconsistent():
    # the directory shows more newly held than postsuper held: someone else held some - the proof is void
    stderr, listed, before, after = _whole_run()
    outcome = prove_whole(stderr.replace("2 messages", "1 message"), "h", listed, before, after)
    assert not outcome.consistent
    # and a fatal run keeps its fatal line (the caller stops on it)
    outcome = prove_whole("postsuper: fatal: invalid directory name: corrupt\n", "h", listed, before, before)
    assert outcome.fatal and outcome.ids("h") == []


def test_a_whole_queue_run_can_pass_over_a_message_that_moved_and_a_second_run_is_merged():
    """postsuper reads the queues one directory after another while the queue manager moves mail between them
    (deferred into active, and back): what it passed over and is still queued is held by the next run, whose proof
    and total add to the first's."""
    listed, before = ["3jcpGJ5qLszBrJd", "3jcpGJ5qLszBrJe", "3jcpGJ5qLszBrJf"], []
    first = prove_whole("postsuper: Placed on hold: 2 messages\n", "h", listed, before, listed[:2])
    assert passed_over(listed, first, "h", still_queued=["3jcpGJ5qLszBrJf", "4jcpGJ5qLszBrJx"]) == listed[2:]
    assert passed_over(listed, first, "h", still_queued=[]) == []       # delivered or deleted meanwhile: gone
    then = prove_whole("postsuper: Placed on hold: 1 message\n", "h", listed[2:], listed[:2], listed)
    merged = merge_whole(first, then)
    assert merged.changed["h"] == listed and merged.totals["h"] == 3 and merged.whole and merged.consistent
    fatal = prove_whole("postsuper: fatal: invalid directory name: corrupt\n", "h", listed[2:], listed[:2], listed[:2])
    merged = merge_whole(prove_whole("postsuper: Placed on hold: 2 messages\n", "h", listed, [], listed[:2]), fatal)
    assert merged.fatal and merged.totals["h"] == 2 and merged.changed["h"] == listed[:2]
