# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pre-flight: every bad runbook input is refused with a message that names its variable."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.mailops.postfix.plugins.plugin_utils import _preflight

ALL = ["assess", "hold", "fix", "purge", "requeue", "verify", "metrics"]
GOOD = {
    "mailops_junk": {"sender": ["webmaster@example.org", "MAILER-DAEMON"], "older_than": "10m"},
    "fix_block_senders": ["webmaster@example.org", "@spam.example", "spam.example", ".spam.example", "mallory@"],
    "fix_block_clients": ["192.0.2.7", "198.51.100", "2001:db8::1", "bad.example"],
    "fix_reject_action": "REJECT blocked during incident 4711",
    "fix_map_type": "lmdb",
    "mailops_instance": {"config_dir": "/etc/postfix-out", "postfix_bin_dir": "/opt/zimbra/common/sbin"},
    "purge_archive_dir": "/var/backups/purge", "purge_max_messages": 5000, "purge_batch_pause": 0.5,
    "mailops_serial": "25%", "mailops_max_fail_percentage": 0, "mailops_mode": "direct", "mailops_plan_max_age": "2h",
}

BAD = [
    ({"mailops_junk": {}}, "mailops_junk: the junk selection is empty"),
    ({"mailops_junk": None}, "mailops_junk: the junk selection is empty"),
    ({"mailops_junk": "webmaster@example.org"}, "mailops_junk: expected a dictionary"),
    ({"mailops_junk": {"from": "x@example.org"}}, "mailops_junk: unknown selection option(s) from"),
    ({"mailops_junk": {"sender_regex": "(unclosed"}}, "mailops_junk: sender_regex: invalid regular expression"),
    ({"mailops_junk": {"older_than": "3 days"}}, "mailops_junk: older_than: expected a duration"),
    ({"mailops_junk": {"min_size": "10 MB"}}, "mailops_junk: min_size"),
    ({"mailops_junk": {"queues": ["hold"], "sender": "x@y.example"}}, "mailops_junk: give no 'queues'"),
    ({"mailops_junk": {"sender": "x@y.example", "recipient_match": "most"}}, "mailops_junk: recipient_match"),
    ({"purge_junk": {"sender": []}}, "purge_junk"),
    ({"verify_junk": {"queue_ids": ["ALL"]}}, "verify_junk: queue_ids: not a Postfix queue ID"),
    ({"fix_block_senders": ["spammer@example.com OK"]}, "fix_block_senders[0]: 'spammer@example.com OK' has whitespace"),
    ({"fix_block_senders": ["spammer@example.com\nevil@example.com OK"]}, "fix_block_senders[0]"),
    ({"fix_block_senders": ["spammer@example.com\tOK"]}, "fix_block_senders[0]"),
    ({"fix_block_senders": ["<>"]}, "fix_block_senders[0]: '<>' would refuse every bounce"),
    ({"fix_block_senders": ["not an address"]}, "fix_block_senders[0]"),
    ({"fix_block_senders": ["a@b@c"]}, "fix_block_senders[0]: 'a@b@c' is not an access(5) sender key"),
    ({"fix_block_senders": [""]}, "fix_block_senders[0]: expected a non-empty string"),
    ({"fix_block_senders": "spammer@example.com"}, "fix_block_senders: expected a list"),
    ({"fix_block_clients": ["10.0.0.0/8"]}, "fix_block_clients[0]: '10.0.0.0/8': an indexed access map does not understand CIDR"),
    ({"fix_block_clients": ["300.1.2.3"]}, "fix_block_clients[0]: '300.1.2.3' is not an access(5) client key"),
    ({"fix_block_clients": ["1.2.3.4 OK"]}, "fix_block_clients[0]"),
    ({"fix_reject_action": "OK"}, "fix_reject_action: 'OK' does not refuse the mail"),
    ({"fix_reject_action": "PERMIT"}, "fix_reject_action: 'PERMIT'"),
    ({"fix_reject_action": "DUNNO"}, "fix_reject_action: 'DUNNO'"),
    ({"fix_reject_action": "250 accepted"}, "fix_reject_action: '250 accepted'"),
    ({"fix_reject_action": "REJECT\nspammer@example.com OK"}, "fix_reject_action"),
    ({"fix_reject_action": "ok"}, "fix_reject_action: 'ok'"),
    ({"fix_map_type": "regexp"}, "fix_map_type: value of fix_map_type must be one of: hash, btree"),
    ({"purge_batch_size": "lots"}, "purge_batch_size: argument 'purge_batch_size' is of type str"),
    ({"fix_config_dir": "etc/postfix"}, "fix_config_dir: expected an absolute path"),
    ({"purge_archive_dir": "backups"}, "purge_archive_dir: expected an absolute path"),
    ({"metrics_textfile_dir": "node-exporter"}, "metrics_textfile_dir: expected an absolute path"),
    ({"metrics_config_dirs": ["/etc/postfix", "postfix-b"]}, "metrics_config_dirs[1]: expected an absolute path"),
    ({"metrics_scheduler": "anacron"}, "metrics_scheduler: value of metrics_scheduler must be one of"),
    ({"fix_tasks_file": "/nonexistent/fix.yml"}, "fix_tasks_file: /nonexistent/fix.yml does not exist on the controller"),
    ({"fix_tasks_file": "fix.yml"}, "fix_tasks_file: expected an absolute path"),
    ({"mailops_audit_log": "audit.jsonl"}, "mailops_audit_log: expected an absolute path"),
    ({"mailops_instance": {"postfix_bin_dir": "opt/sbin"}}, "mailops_instance.postfix_bin_dir: expected an absolute path"),
    ({"mailops_instance": {"confdir": "/etc/postfix"}}, "mailops_instance: unknown option(s) confdir"),
    ({"mailops_instance": {"postfix_tool_paths": {"postsuper": "postsuper"}}}, "mailops_instance.postfix_tool_paths.postsuper"),
    ({"mailops_instance": "/etc/postfix"}, "mailops_instance: expected a dictionary"),
    ({"purge_batch_size": 0}, "purge_batch_size: expected a whole number of at least 1"),
    ({"hold_batch_size": -5}, "hold_batch_size: expected a whole number of at least 1"),
    ({"requeue_max_active": True}, "requeue_max_active: expected a whole number"),
    ({"purge_max_messages": 0}, "purge_max_messages: expected a whole number of at least 1"),
    ({"purge_batch_pause": -1}, "purge_batch_pause: expected a number of 0 or more"),
    ({"fix_reload_timeout": -5}, "fix_reload_timeout: expected a number of 0 or more"),
    ({"mailops_max_fail_percentage": 150}, "mailops_max_fail_percentage: expected a whole number from 0 to 100"),
    ({"mailops_serial": "0"}, "mailops_serial"),
    ({"mailops_serial": "ten"}, "mailops_serial"),
    ({"mailops_mode": "yolo"}, "mailops_mode: expected one of direct, plan, apply"),
    ({"mailops_mode": "apply", "mailops_plan_id": "latest"}, "mailops_plan_id: 'latest' is not a plan ID"),
    ({"mailops_mode": "apply", "mailops_plan_id": None}, "mailops_plan_id: an apply run needs the ID"),
    ({"mailops_mode": "direct", "mailops_plan_id": "0123456789abcdef0123456789abcdef"}, "mailops_plan_id: given with mailops_mode=direct"),
    ({"mailops_plan_max_age": "soon"}, "mailops_plan_max_age"),
    ({"mailops_incident_id": "ticket 4711"}, "mailops_incident_id"),
]


def test_good_inputs_pass(tmp_path):
    assert _preflight.runbook_problems(dict(GOOD), ALL) == []


@pytest.mark.parametrize("change, words", BAD, ids=[words.split(":")[0] + "-%d" % n for n, (_c, words) in enumerate(BAD)])
def test_bad_inputs_are_named(change, words):
    values = dict(GOOD, **change)
    problems = _preflight.runbook_problems(values, ALL)
    assert any(problem.startswith(words) or words in problem for problem in problems), problems
    variable = words.split(":")[0].split("[")[0].split(".")[0]
    assert all(problem.startswith(variable) for problem in problems), problems


def test_an_apply_run_takes_its_junk_and_id_from_the_plan():
    apply = {"mailops_mode": "apply", "mailops_junk": {}, "mailops_plan": {"id": "0123456789abcdef0123456789abcdef"}}
    assert _preflight.runbook_problems(apply, ALL) == []
    assert _preflight.runbook_problems(dict(apply, mailops_plan={}), ALL) == [
        "mailops_plan_id: an apply run needs the ID of the approved plan (the plan job's mailops_plan.id)"]


def test_an_empty_junk_selection_is_fine_when_nothing_is_purged():
    assert _preflight.runbook_problems({"mailops_junk": {}}, ["assess", "hold", "fix"]) == []


def test_the_purge_junk_is_what_counts_when_given():
    assert _preflight.runbook_problems({"mailops_junk": {}, "purge_junk": {"sender": "x@y.example"}},
                                       ["purge"]) == []


INSTANCE = {"config_dir": "/etc/postfix", "tools": {"postconf": "/usr/sbin/postconf", "postqueue": "/usr/sbin/postqueue",
                                                    "postsuper": "/usr/sbin/postsuper", "postcat": "/usr/sbin/postcat",
                                                    "postfix": "/usr/sbin/postfix", "postmap": "/usr/sbin/postmap"},
            "map_types": ["btree", "cdb", "hash", "lmdb", "regexp"], "managed_by": None}


def test_a_good_host_passes():
    assert _preflight.host_problems(INSTANCE, {"fix_block_senders": ["x@y.example"], "_purging": True}) == []


@pytest.mark.parametrize("instance, values, words", [
    (dict(INSTANCE, managed_by="zimbra"), {}, "mailops_window: main.cf of /etc/postfix is rewritten by zimbra"),
    (dict(INSTANCE, managed_by="zimbra"), {"mailops_window": False, "fix_block_senders": ["x@y.example"]},
     "fix_block_senders: main.cf of /etc/postfix is rewritten by zimbra"),
    (dict(INSTANCE, map_types=["hash"]), {"fix_map_type": "lmdb", "fix_block_senders": ["x@y.example"]},
     "fix_map_type: lmdb is not a map type this Postfix supports"),
    (dict(INSTANCE, tools={"postconf": "/x/postconf"}), {"_purging": True},
     "mailops_instance: postqueue, postsuper, postcat not found"),
    (dict(INSTANCE, tools={}), {"mailops_instance": {"postfix_bin_dir": "/opt/x"}}, "mailops_instance.postfix_bin_dir: "),
])
def test_host_problems_are_named(instance, values, words):
    problems = _preflight.host_problems(instance, values)
    assert any(problem.startswith(words) for problem in problems), problems


def test_missing_host_directories_are_named():
    problems = _preflight.host_problems(INSTANCE, {"fix_config_dir": "/etc/nowhere"}, {"fix_config_dir": False})
    assert problems == ["fix_config_dir: /etc/nowhere does not exist on this host"]


READ = {"instance": INSTANCE, "postfix_version": "3.7.11"}


def test_a_host_is_admitted_when_nothing_is_wrong():
    assert _preflight.admission(dict(GOOD, fix_config_dir="/etc/postfix-out"), ALL, READ,
                                {"fix_config_dir": True}) == []


def test_the_run_s_problems_come_before_the_host_s():
    # the variables are wrong: the host's instance is not looked at (it could not be read)
    problems = _preflight.admission({"mailops_junk": {}}, ["purge"], {"failed": True, "msg": "no such instance"})
    assert len(problems) == 1 and problems[0].startswith("mailops_junk: the junk selection is empty"), problems


def test_a_host_whose_instance_was_not_read_is_refused():
    assert _preflight.admission(GOOD, ALL, {"failed": True, "msg": "no Postfix instance at /etc/postfix-out"}) == [
        "mailops_instance: no Postfix instance at /etc/postfix-out"]


@pytest.mark.parametrize("phases, refused", [(["purge"], True), (["fix"], True), (["hold"], True),
                                             (["end_window"], True), (["assess", "verify"], False)])
def test_the_host_s_tools_the_phases_need(phases, refused):
    """A purge needs postcat; a fix, the hold's window and its end reload Postfix (postfix); the others neither."""
    tools = {name: path for name, path in INSTANCE["tools"].items() if name not in ("postcat", "postfix")}
    problems = _preflight.admission({"mailops_junk": GOOD["mailops_junk"]}, phases,
                                    dict(READ, instance=dict(INSTANCE, tools=tools)))
    assert bool(problems) is refused, problems
    assert all(problem.startswith("mailops_instance: ") and "not found" in problem for problem in problems)


def test_a_missing_host_directory_refuses_the_host():
    assert _preflight.admission({"fix_config_dir": "/etc/nowhere"}, ["fix"], READ, {"fix_config_dir": False}) == [
        "fix_config_dir: /etc/nowhere does not exist on this host"]
