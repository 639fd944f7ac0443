# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading queue files while the queue moves, on a real Postfix: the collection's own reader (module_utils) against
the real postcat, which it runs through a shim that only writes down each run's arguments.

postcat -q dies at the first queue ID it cannot open, and only after it looked for it again a second later (a
message may be moving between queues). A queue being delivered loses many listed messages before they are read:
one run more per message gone was a second each - a verify that waited a minute for nothing (issue #21).
"""

from __future__ import absolute_import, division, print_function

import os
import shutil
import stat
import sys

import pytest


SHIM = """#!/bin/sh
echo "$@" >> %(log)s
exec %(postcat)s "$@"
"""


def _reader():
    sys.path.insert(0, os.environ["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep)[0])
    from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI
    return PostfixCLI


@pytest.mark.controller_independent
def test_messages_deleted_since_the_listing_cost_one_postcat_run_more_not_one_each(postfix, tmp_path):
    postfix.reset()
    postfix.smtp_source(8, "reader@example.org", "someone@example.net", sessions=2)
    postfix.settled({"deferred": 8})
    postfix.freeze()
    listed = [message["queue_id"] for message in postfix.queue()]
    deleted = listed[1:6]
    postfix.postsuper("-d", "-", data="".join(queue_id + "\n" for queue_id in deleted))
    assert sorted(m["queue_id"] for m in postfix.queue()) == sorted(listed[:1] + listed[6:])
    log = tmp_path / "postcat-runs.log"
    shim = tmp_path / "postcat"
    shim.write_text(SHIM % {"log": log, "postcat": shutil.which("postcat") or "/usr/sbin/postcat"})
    shim.chmod(stat.S_IRWXU)
    cli = _reader()(config_dir=postfix.config_dir, tool_paths={"postcat": str(shim)})

    read = [(kind, queue_id, printed is not None and "sender: reader@example.org" in printed["envelope"])
            for kind, queue_id, printed in cli.postcat_messages(listed, "envelope")]

    assert read == [("message", listed[0], True)] + [("gone", queue_id, False) for queue_id in deleted] + [
        ("message", queue_id, True) for queue_id in listed[6:]]
    # the first run dies at the first message deleted; the queue directories, read once, tell the other four: the
    # second run is for the two still queued
    runs = [[word for word in line.split() if not word.startswith("-") and "/" not in word]
            for line in log.read_text().splitlines()]
    assert runs == [listed, listed[6:]]
    postfix.thaw()
