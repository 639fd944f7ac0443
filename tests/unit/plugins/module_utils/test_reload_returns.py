# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``postfix reload`` ends with ``postsuper &`` (postfix-script): a check of the whole queue left running in the
background, with the reload's stdout and stderr. The reload is done when postfix exits; reading its output to the end
would wait for that check too (about 4.5 s at 100,000 queued messages).

The runner runs a real program here: a stand-in for postfix that, like postfix-script, prints, leaves a background
process holding its stdout and stderr, and exits. The test ends that process itself, by its PID.
"""

from __future__ import absolute_import, division, print_function

import os
import signal
import stat

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI, PostfixError


def stand_in(tmp_path, rc):
    pidfile = tmp_path / "background.pid"
    script = tmp_path / "postfix"
    script.write_text(u'#!/bin/sh\necho "reload $*"\necho "postfix/postfix-script: refreshing" >&2\n'
                      u'sleep 300 &\necho $! > %s\nexit %d\n' % (pidfile, rc))
    script.chmod(stat.S_IRWXU)
    return str(script), pidfile


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


@pytest.mark.parametrize("rc", [0, 1])
def test_reload_returns_when_postfix_exits_not_when_its_background_check_does(tmp_path, rc):
    script, pidfile = stand_in(tmp_path, rc)
    cli = PostfixCLI(tool_paths={"postfix": script})
    try:
        if rc == 0:
            assert cli.reload("/etc/postfix-test") == {"waited_for": [], "still_running": [], "seconds": 0.0, "warnings": []}
        else:
            with pytest.raises(PostfixError, match="reload failed .exit 1.: postfix/postfix-script: refreshing"):
                cli.reload("/etc/postfix-test")
        background = int(pidfile.read_text())
        # still running, holding the output the reload was given: the reload did not wait for it
        assert alive(background)
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGTERM)


def test_run_to_exit_gives_the_output_and_the_status(tmp_path):
    script, pidfile = stand_in(tmp_path, 3)
    cli = PostfixCLI(tool_paths={"postfix": script})
    try:
        assert cli.run_to_exit([script, "-c", "/x", "reload"]) == (3, "reload -c /x reload\n", "postfix/postfix-script: refreshing\n")
    finally:
        os.kill(int(pidfile.read_text()), signal.SIGTERM)
