# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postcat_batches: the next batch's postcat runs while the caller works through this one, and what each batch yields
is what postcat_messages yields for it alone - in order, a message gone since the listing included.

The runner runs a real program: a stand-in for ``postcat -q`` that prints, for each ID it is given, Postfix 3.7's own
``postcat -q`` capture of that message, and dies at an ID it has no capture for with postcat's own words - as postcat
does at a queue file it cannot open.
"""

from __future__ import absolute_import, division, print_function

import stat
import sys

from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI
from ansible_collections.mailops.postfix.tests.unit import captures

# queue ID -> the capture of ``postcat -q ID`` (tests/unit/fixtures/postfix-3.7.11/COMMANDS.txt)
CAPTURED = {"32D2F160014": "postcat-q_deferred_multi", "623E4160083": "postcat-q_bounce_nullsender",
            "106AB1600C3": "postcat-q_utf8", "8D9F3160044": "postcat-q_maildrop", "C125C160007": "postcat-q_incoming",
            "85C97160036": "postcat-q_active", "52C091601EB": "postcat-q_hold"}

STAND_IN = r'''#!%(python)s
import os, sys, time
ids = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
with open(%(log)r, "a") as log:
    log.write(" ".join(ids) + "\n")
if os.environ.get("STAND_IN_SIGNAL") == ids[0]:
    open(%(marker)r, "w").close()
if os.environ.get("STAND_IN_WAIT") == ids[0]:
    # this run ends only once the run of the next batch has started - or fails after 60 s without it
    deadline = time.monotonic() + 60
    while not os.path.exists(%(marker)r):
        if time.monotonic() > deadline:
            sys.stderr.write("postcat: fatal: no other postcat ran meanwhile\n")
            sys.exit(2)
        time.sleep(0.01)
out = sys.stdout.buffer
for queue_id in ids:
    name = %(captured)r.get(queue_id)
    if name is None:
        sys.stderr.write("postcat: fatal: open queue file %%s: No such file or directory\n" %% queue_id)
        sys.exit(1)
    with open(os.path.join(%(fixtures)r, name + ".stdout"), "rb") as handle:
        out.write(handle.read())
'''


POSTCONF = r'''#!/bin/sh
echo %s
'''


def stand_in(tmp_path, where=None):
    """The postcat stand-in, and a queue directory holding a file for each queue ID of WHERE ({queue_id: its queue's
    path below the directory}; by default every captured message, in active) with a postconf stand-in naming it."""
    script = tmp_path / "postcat"
    log = tmp_path / "runs.log"
    script.write_text(STAND_IN % {"python": sys.executable, "log": str(log), "marker": str(tmp_path / "started"),
                                  "captured": CAPTURED, "fixtures": captures.FIXTURES})
    script.chmod(stat.S_IRWXU)
    queue_directory = tmp_path / "spool"
    for queue in ("incoming", "active", "deferred", "hold", "maildrop"):
        (queue_directory / queue).mkdir(parents=True)
    for queue_id, path in (dict.fromkeys(CAPTURED, "active") if where is None else where).items():
        (queue_directory / path).mkdir(parents=True, exist_ok=True)
        (queue_directory / path / queue_id).write_bytes(b"")
    postconf = tmp_path / "postconf"
    postconf.write_text(POSTCONF % queue_directory)
    postconf.chmod(stat.S_IRWXU)
    return PostfixCLI(tool_paths={"postcat": str(script), "postconf": str(postconf)}), log


def alone(cli, batch):
    return [(kind, queue_id, printed and printed["content"]) for kind, queue_id, printed in cli.postcat_messages(batch)]


BATCHES = [["32D2F160014", "623E4160083"], ["106AB1600C3", "0000000DEAD", "8D9F3160044"], ["C125C160007"],
           ["0000000BEEF"], ["85C97160036", "52C091601EB"]]


def test_each_batch_yields_what_it_yields_alone_in_order_gone_messages_included(tmp_path):
    cli, log = stand_in(tmp_path)
    expected = [(batch, alone(cli, batch)) for batch in BATCHES]
    log.write_text(u"")
    yielded = [[(kind, queue_id, printed and printed["content"]) for kind, queue_id, printed in messages]
               for messages in cli.postcat_batches(iter(BATCHES))]
    assert len(yielded) == len(BATCHES)
    got = list(zip(BATCHES, yielded))
    assert got == expected
    assert [entry for _batch, entries in got for entry in entries if entry[0] == "gone"] == [
        ("gone", "0000000DEAD", None), ("gone", "0000000BEEF", None)]
    assert sum(1 for _b, entries in got for entry in entries if entry[0] == "message") == len(CAPTURED)
    # one run per batch, and one more for the rest of a batch after its gone message - nothing read twice
    runs = sorted(log.read_text().splitlines())
    assert runs == sorted(["32D2F160014 623E4160083", "106AB1600C3 0000000DEAD 8D9F3160044", "8D9F3160044",
                           "C125C160007", "0000000BEEF", "85C97160036 52C091601EB"])


def test_the_next_batch_s_postcat_runs_while_this_one_does(tmp_path):
    cli, _log = stand_in(tmp_path)
    # the first batch's postcat finishes only once the second batch's has started: without reading ahead it would
    # wait alone and fail
    cli.env = dict(cli.env, STAND_IN_WAIT=BATCHES[0][0], STAND_IN_SIGNAL=BATCHES[1][0])
    first = next(iter(cli.postcat_batches(iter(BATCHES))))
    assert [queue_id for _kind, queue_id, _printed in first] == BATCHES[0]


def test_nothing_to_read(tmp_path):
    cli, log = stand_in(tmp_path)
    assert list(cli.postcat_batches(iter([]))) == []
    assert not log.exists()


def test_the_messages_gone_with_the_first_are_known_from_one_read_of_the_queue_directories(tmp_path):
    # a queue in motion: of the listed messages, three were delivered before postcat read them, one moved from active
    # to deferred (a hashed subdirectory); postcat dies at the first gone one - the others gone are then found in the
    # queue directories, and postcat runs once more, for the two still queued, not once per message gone
    cli, log = stand_in(tmp_path, {"32D2F160014": "active", "623E4160083": "deferred/6", "106AB1600C3": "hold"})
    batch = ["32D2F160014", "0000000DEAD", "0000000BEEF", "623E4160083", "0000000FADE", "106AB1600C3"]
    got = [(kind, queue_id) for kind, queue_id, _printed in cli.postcat_messages(batch)]
    assert got == [("message", "32D2F160014"), ("gone", "0000000DEAD"), ("gone", "0000000BEEF"),
                   ("message", "623E4160083"), ("gone", "0000000FADE"), ("message", "106AB1600C3")]
    assert log.read_text().splitlines() == [" ".join(batch), "623E4160083 106AB1600C3"]


def test_a_message_postcat_cannot_find_though_its_file_is_there_is_still_asked_for_alone(tmp_path):
    # the directories say 0000000BEEF is queued (it moved there after postcat looked): it is not taken for gone on
    # their word - postcat is asked, and only its own "No such file" makes it gone
    cli, log = stand_in(tmp_path, {"32D2F160014": "active", "0000000BEEF": "incoming", "106AB1600C3": "hold"})
    batch = ["32D2F160014", "0000000DEAD", "0000000BEEF", "106AB1600C3"]
    got = [(kind, queue_id) for kind, queue_id, _printed in cli.postcat_messages(batch)]
    assert got == [("message", "32D2F160014"), ("gone", "0000000DEAD"), ("gone", "0000000BEEF"),
                   ("message", "106AB1600C3")]
    assert log.read_text().splitlines() == [" ".join(batch), "0000000BEEF 106AB1600C3", "106AB1600C3"]


def test_without_a_queue_directory_to_read_each_gone_message_costs_a_run_as_before(tmp_path):
    # the directories cannot be read (here: postconf names none that exists): nothing is taken for gone without
    # postcat's word
    cli, log = stand_in(tmp_path, {})
    (tmp_path / "postconf").write_text(POSTCONF % (tmp_path / "no-such-spool"))
    batch = ["32D2F160014", "0000000DEAD", "0000000BEEF", "106AB1600C3"]
    got = [(kind, queue_id) for kind, queue_id, _printed in cli.postcat_messages(batch)]
    assert got == [("message", "32D2F160014"), ("gone", "0000000DEAD"), ("gone", "0000000BEEF"),
                   ("message", "106AB1600C3")]
    assert log.read_text().splitlines() == [" ".join(batch), "0000000BEEF 106AB1600C3", "106AB1600C3"]
