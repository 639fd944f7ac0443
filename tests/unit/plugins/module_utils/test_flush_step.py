# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A flush step runs ``postqueue -i ID`` once per ID, says so, and accounts for each ID it got to.

The runner runs a real program here: a stand-in for postqueue that records each call and fails on one ID, as
postqueue does when the mail system is down.
"""

from __future__ import absolute_import, division, print_function

import stat

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI, PostfixError

IDS = ["8FB47160045", "8FB47160046", "8FB47160047", "8FB47160048"]


@pytest.fixture
def postqueue(tmp_path):
    calls = tmp_path / "calls"
    script = tmp_path / "postqueue"
    script.write_text(u'#!/bin/sh\necho "$*" >> %s\n[ "$4" = "8FB47160047" ] && { echo "postqueue: fatal: Cannot flush '
                      u'mail queue - mail system is down" >&2; exit 1; }\nexit 0\n' % calls)
    script.chmod(stat.S_IRWXU)
    return str(script), calls


def test_one_run_per_id_shown_as_it_runs(postqueue):
    script, calls = postqueue
    cli = PostfixCLI(config_dir="/etc/postfix", tool_paths={"postqueue": script})
    step = cli.flush_step(IDS[:2])
    assert step.shown == "%s -c /etc/postfix -i ID (run once per ID: 2 runs)" % script
    assert cli.run_step(step) == (0, IDS[:2])
    assert calls.read_text().splitlines() == ["-c /etc/postfix -i %s" % queue_id for queue_id in IDS[:2]]


def test_a_failing_run_says_which_ids_were_flushed_before_it(postqueue):
    script, calls = postqueue
    cli = PostfixCLI(config_dir="/etc/postfix", tool_paths={"postqueue": script})
    with pytest.raises(PostfixError) as error:
        cli.run_step(cli.flush_step(IDS))
    assert error.value.done == IDS[:2]
    assert "mail system is down" in str(error.value)
    assert len(calls.read_text().splitlines()) == 3          # nothing ran after the failure
