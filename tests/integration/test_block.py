# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postfix_block through Ansible, on a real Postfix's configuration: Debian's postconf and postmap, over ssh.

Each test gets its own configuration directory (Debian's pristine main.cf and master.cf), so the checks read
what Postfix itself reads - ``postconf -c DIR -h``, ``postmap -q`` - and the default instance is never changed.
"""

from __future__ import absolute_import, division, print_function

import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.controller_independent

BLOCK = {"senders": ["spammer@example.com", "@spam.example"], "clients": ["192.0.2.7"],
         "sasl_users": ["intern@example.org"], "local_users": ["www-data"]}


# Debian's pristine configuration files, as the package ships them: /etc/postfix/main.cf does not exist on a machine
# whose Postfix was installed with "No configuration" until a test writes it (the postfix fixture).
PRISTINE = {"main.cf": "/usr/share/postfix/main.cf.debian", "master.cf": "/usr/share/postfix/master.cf.dist"}


@pytest.fixture
def config_dir(tmp_path):
    directory = tmp_path / "postfix"
    directory.mkdir()
    for name, source in PRISTINE.items():
        shutil.copy(source, str(directory / name))
    os.chmod(str(tmp_path), 0o755)
    return str(directory)


def postconf(config_dir, name):
    return subprocess.run(["postconf", "-c", config_dir, "-h", name], check=True, stdout=subprocess.PIPE,
                          universal_newlines=True).stdout.strip()


def lookup(config_dir, table, key):
    proc = subprocess.run(["postmap", "-c", config_dir, "-q", key, table], stdout=subprocess.PIPE,
                          universal_newlines=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def snapshot(config_dir):
    return {name: open(os.path.join(config_dir, name), "rb").read() for name in sorted(os.listdir(config_dir))}


def block(playbook, config_dir, options, **kwargs):
    out = playbook("postfix_block", scenario="one_call", options=dict(options, config_dir=config_dir), **kwargs)
    return out["results"]["outcome"]


def test_each_kind_is_refused_by_postfix_s_own_lookup_and_a_second_run_changes_nothing(playbook, config_dir):
    before_submitters = postconf(config_dir, "authorized_submit_users")
    first = block(playbook, config_dir, dict(BLOCK, reject_action="REJECT go away"))
    assert first["changed"] and first["reload"]
    assert [(m["kind"], m["written"], m["compiled"]) for m in first["maps"]] == [
        ("sender", True, True), ("client", True, True), ("sasl", True, True)]
    sender_map, client_map, sasl_map = (os.path.join(config_dir, "mailops_%s_access" % kind)
                                        for kind in ("sender", "client", "sasl"))
    # what smtpd will look up: the compiled tables answer with the action
    assert lookup(config_dir, "hash:" + sender_map, "spammer@example.com") == "REJECT go away"
    assert lookup(config_dir, "hash:" + sender_map, "@spam.example") == "REJECT go away"
    assert lookup(config_dir, "hash:" + sender_map, "friend@example.com") is None
    assert lookup(config_dir, "hash:" + client_map, "192.0.2.7") == "REJECT go away"
    assert lookup(config_dir, "hash:" + sasl_map, "intern@example.org") == "REJECT go away"
    # the checks first in main.cf's lists (the login's first: it was added last), the submitters refused
    senders = [item.strip() for item in postconf(config_dir, "smtpd_sender_restrictions").split(",")]
    assert senders[:2] == ["check_sasl_access hash:" + sasl_map, "check_sender_access hash:" + sender_map]
    assert postconf(config_dir, "smtpd_client_restrictions").startswith("check_client_access hash:" + client_map)
    assert postconf(config_dir, "authorized_submit_users") == "!www-data, " + before_submitters
    assert set(first["parameters"]) == {"smtpd_sender_restrictions", "smtpd_client_restrictions", "authorized_submit_users"}

    files = snapshot(config_dir)
    second = block(playbook, config_dir, dict(BLOCK, reject_action="REJECT go away"))
    assert not second["changed"] and not second["reload"] and second["parameters"] == {}
    assert not any(m["written"] or m["compiled"] for m in second["maps"])
    assert snapshot(config_dir) == files


def test_new_entries_rewrite_and_recompile_the_map_and_leave_the_lists_alone(playbook, config_dir):
    block(playbook, config_dir, {"senders": ["spammer@example.com"]})
    restrictions = postconf(config_dir, "smtpd_sender_restrictions")
    again = block(playbook, config_dir, {"senders": ["other@example.net"]})
    assert again["changed"] and again["reload"] and again["parameters"] == {}
    assert [(m["written"], m["compiled"]) for m in again["maps"]] == [(True, True)]
    table = "hash:" + os.path.join(config_dir, "mailops_sender_access")
    assert lookup(config_dir, table, "other@example.net") is not None
    assert lookup(config_dir, table, "spammer@example.com") is None       # the map is rewritten whole
    assert postconf(config_dir, "smtpd_sender_restrictions") == restrictions


def test_a_stale_compiled_map_is_rebuilt(playbook, config_dir):
    block(playbook, config_dir, {"clients": ["192.0.2.7"]})
    os.unlink(os.path.join(config_dir, "mailops_client_access.db"))
    again = block(playbook, config_dir, {"clients": ["192.0.2.7"]})
    assert [(m["written"], m["compiled"]) for m in again["maps"]] == [(False, True)] and again["changed"]
    assert lookup(config_dir, "hash:" + os.path.join(config_dir, "mailops_client_access"), "192.0.2.7") is not None


def test_local_users_alone_need_no_reload(playbook, config_dir):
    out = block(playbook, config_dir, {"local_users": ["www-data", "mlab-spam"]})
    assert out["changed"] and not out["reload"] and out["maps"] == []
    assert postconf(config_dir, "authorized_submit_users").startswith("!www-data, !mlab-spam, ")
    assert not [name for name in os.listdir(config_dir) if name.startswith("mailops_")]


def test_check_mode_reports_the_change_and_changes_nothing(playbook, config_dir):
    files = snapshot(config_dir)
    out = block(playbook, config_dir, BLOCK, check_mode=True)
    assert out["changed"] and out["reload"]
    assert out["parameters"]["smtpd_client_restrictions"]["after"].startswith("check_client_access hash:")
    assert snapshot(config_dir) == files


@pytest.mark.parametrize("options, words", [
    ({"senders": ["spammer@example.com OK"]}, "senders[0]: 'spammer@example.com OK' has whitespace"),
    ({"senders": ["<>"], "clients": ["192.0.2.7"]}, "senders[0]: '<>' would refuse every bounce"),
    ({"clients": ["10.1.2.0/24"]}, "clients[0]: '10.1.2.0/24': an indexed access map does not understand CIDR"),
    ({"senders": ["spammer@example.com"], "reject_action": "OK"}, "reject_action: 'OK' does not refuse the mail"),
    ({"senders": ["spammer@example.com"], "map_type": "sdbm"}, "map_type: sdbm is not a map type this Postfix supports"),
    ({"clients": ["192.0.2.7"], "client_map": "relative/map"}, "client_map: relative/map is not an absolute path"),
    ({"senders": ["spammer@example.com"], "sender_map": "/nonexistent/dir/map"},
     "sender_map: the directory of /nonexistent/dir/map does not exist"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(playbook, config_dir, options, words):
    files = snapshot(config_dir)
    out = block(playbook, config_dir, options, allow_failure=True)
    assert out.get("failed") and words in out["msg"] and "Nothing was changed" in out["msg"], out
    assert snapshot(config_dir) == files
