# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A main.cf edited by the collection is left cooled: Postfix's readers do not pause for it.

Postfix re-reads main.cf in 300 ms steps while it was modified in the last two seconds ("pausing to let
main.cf cool down", printed with -v -v). The real postconf of this machine edits a configuration
directory of the test's own; whether a reader pauses is read from Postfix's own verbose log, never timed.
"""

from __future__ import absolute_import, division, print_function

import os
import subprocess
import time

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI, age_replaced

COOL_DOWN = "cool down"


@pytest.fixture
def config_dir(tmp_path):
    path = tmp_path / "postfix"
    path.mkdir()
    (path / "main.cf").write_text(u"compatibility_level = 3.6\nmyhostname = settle.invalid\n")
    old = time.time() - 60
    os.utime(str(path / "main.cf"), (old, old))
    return str(path)


def postconf(config_dir, *args):
    """postconf -v -v: (stdout, stderr); stderr says whether Postfix paused for main.cf."""
    process = subprocess.run([PostfixCLI().tool("postconf"), "-v", "-v", "-c", config_dir] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True)
    return process.stdout, process.stderr


def test_a_plain_postconf_edit_makes_the_next_reader_pause(config_dir):
    # the control: without settling, Postfix's next reader of main.cf pauses for it
    subprocess.run([PostfixCLI().tool("postconf"), "-c", config_dir, "-e", "maximal_queue_lifetime=4d"], check=True,
                   stderr=subprocess.DEVNULL)
    _out, err = postconf(config_dir, "-h", "myhostname")
    assert COOL_DOWN in err


def test_set_parameters_leaves_main_cf_cooled(config_dir):
    cli = PostfixCLI(config_dir=config_dir)
    inode = os.stat(os.path.join(config_dir, "main.cf")).st_ino
    cli.set_parameters({"maximal_queue_lifetime": "4d", "smtpd_banner": "$myhostname two words"}, config_dir)
    out, err = postconf(config_dir, "-n")
    assert COOL_DOWN not in err
    assert "maximal_queue_lifetime = 4d\n" in out and "smtpd_banner = $myhostname two words\n" in out
    assert os.stat(os.path.join(config_dir, "main.cf")).st_ino != inode     # postconf replaced it whole
    # a removal (postconf -X) and a change in one call: both edits cooled, the second did not pause either
    cli.set_parameters({"maximal_queue_lifetime": None, "smtpd_banner": "three"}, config_dir)
    out, err = postconf(config_dir, "-n")
    assert COOL_DOWN not in err
    assert "maximal_queue_lifetime" not in out and "smtpd_banner = three\n" in out


def test_a_file_written_in_place_keeps_postfix_s_guard(config_dir):
    path = os.path.join(config_dir, "main.cf")
    before = os.stat(path)
    started = time.time()
    with open(path, "a") as handle:      # an editor writing in place: same inode
        handle.write("maximal_queue_lifetime = 4d\n")
    written = os.stat(path).st_mtime
    assert age_replaced(path, before, started) is False
    assert os.stat(path).st_mtime == written
    assert COOL_DOWN in postconf(config_dir, "-h", "maximal_queue_lifetime")[1]


def test_a_file_renamed_in_but_not_changed_since_the_start_is_left_alone(config_dir):
    path = os.path.join(config_dir, "main.cf")
    before = os.stat(path)
    replacement = path + ".other"
    with open(replacement, "w") as handle:
        handle.write("myhostname = other.invalid\n")
    old = time.time() - 30
    os.utime(replacement, (old, old))
    os.rename(replacement, path)
    assert age_replaced(path, before, time.time()) is False
    assert os.stat(path).st_mtime == old


def test_a_missing_file_is_not_an_error(tmp_path):
    before = os.stat(str(tmp_path))
    assert age_replaced(str(tmp_path / "main.cf"), before, time.time()) is False
