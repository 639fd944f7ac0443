# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postfix_queue_info through ansible-playbook, over real SSH, on a real Postfix."""

from __future__ import absolute_import, division, print_function

import shutil

import pytest

import live_postfix
from live_postfix import wait_for


def _counts(queue):
    counts = {}
    for message in queue:
        counts[message["queue_name"]] = counts.get(message["queue_name"], 0) + 1
    return counts


def _project(message):
    """What both listings can carry, for comparisons."""
    return (message["queue_id"], message["sender"], message["message_size"], message["forced_expire"],
            tuple((r["address"], r.get("delay_reason")) for r in message["recipients"]))


@pytest.fixture(scope="module")
def five_queues(postfix):
    """2 active, 6 deferred, 3 hold, 2 incoming, 2 maildrop; queue frozen while the tests read it."""
    postfix.reset()
    postfix.smtp("slow@example.org", ["s1@slow.example"])
    postfix.smtp("slow@example.org", ["s2@slow.example", "s3@slow.example"])
    wait_for(lambda: _counts(postfix.queue()).get("active") == 2, 60, "2 active messages", postfix.by_queue)
    postfix.smtp_source(4, "bulk@example.org", "rcpt@example.net")
    postfix.smtp('"john doe"@example.org', ["UPPER.Case@Example.NET", '"a@b"@example.net'])
    postfix.smtp(u"jos\u00e9@ex\u00e4mple.org", [u"\u7528\u6237@\u4f8b\u5b50.\u4e2d\u56fd"], utf8=True)
    postfix.smtp("held@example.org", ["h1@example.net"], subject="[HOLD] one")
    postfix.smtp("held@example.org", ["h2@example.net", "h3@example.com"], subject="[HOLD] two")
    postfix.smtp("MAILER-DAEMON@example.org", ["h4@example.net"], subject="[HOLD] three")
    postfix.settled({"active": 2, "deferred": 6, "hold": 3})
    postfix.freeze()
    postfix.sendmail("local1@example.org", ["m1@example.net"])
    postfix.sendmail("local2@example.org", ["m2@example.net", "m3@example.com"])
    postfix.smtp("inc@example.org", ["i1@example.net"])
    postfix.smtp("inc@example.org", ["i2@example.net"])
    expected = {"active": 2, "deferred": 6, "hold": 3, "incoming": 2, "maildrop": 2}
    postfix.settled(expected)
    yield expected
    postfix.thaw()


def test_five_queues_through_ansible(five_queues, postfix, playbook):
    before = postfix.queue()
    out = playbook("postfix_queue_info", scenario="five_queues", expected_by_queue=five_queues)
    results = out["results"]
    listed = results["whole"]["messages"]
    assert sorted(_project(m) + (m["queue_name"], m["arrival_time"]) for m in listed) == \
        sorted(_project(m) + (m["queue_name"], m["arrival_time"]) for m in before)
    assert results["whole_check"]["messages"] == listed
    # a read changes nothing
    assert postfix.queue() == before
    text = results["as_text"]["messages"]
    assert sorted(_project(m) for m in text) == sorted(_project(m) for m in listed)
    json_queue = dict((m["queue_id"], m["queue_name"]) for m in listed)
    for message in text:
        if message["queue_name"] is None:
            assert json_queue[message["queue_id"]] in ("deferred", "incoming", "maildrop")
        else:
            assert message["queue_name"] == json_queue[message["queue_id"]]


@pytest.mark.controller_independent
def test_forced_expire_marker_combined_with_hold(five_queues, postfix, playbook):
    held = [m["queue_id"] for m in postfix.queue() if m["queue_name"] == "hold"]
    postfix.postsuper("-e", held[0])
    try:
        assert "%s!#" % held[0] in postfix.text_queue()
        out = playbook("postfix_queue_info", scenario="one_call",
                       options={"queue_ids": [held[0]], "source": "text"})
        (message,) = out["results"]["outcome"]["messages"]
        assert (message["queue_name"], message["forced_expire"]) == ("hold", True)
        out = playbook("postfix_queue_info", scenario="one_call", options={"queue_ids": [held[0]]})
        (message,) = out["results"]["outcome"]["messages"]
        assert (message["queue_name"], message["forced_expire"]) == ("hold", True)
    finally:
        # the expiry mark cannot be undone: requeue the message out of the test's way
        postfix.postsuper("-d", held[0])
        five_queues["hold"] -= 1


@pytest.mark.parametrize("options,words", [
    ({"config_dir": "/etc/postfix-nonexistent"}, ["/etc/postfix-nonexistent", "No such file or directory",
                                                  "check config_dir"]),
    ({"postfix_bin_dir": "/opt/zimbra/common/sbin"}, ["postconf not found", "/opt/zimbra/common/sbin"]),
    ({"postfix_tool_paths": {"postqueue": "/nonexistent/postqueue"}}, ["postqueue not found"]),
    ({"sender_regex": "(unclosed"}, ["sender_regex: invalid regular expression"]),
    ({"older_than": "3 days"}, ["older_than: expected a duration"]),
    ({"queue_ids": ["ALL"]}, ["queue_ids: not a Postfix queue ID"]),
    ({"queues": ["held"]}, ["value of queues must be one or more of"]),
    ({"limit": -1}, ["limit must be 0 or more"]),
])
def test_bad_input_is_a_clear_error(five_queues, postfix, playbook, options, words):
    before = postfix.queue()
    out = playbook("postfix_queue_info", scenario="one_call", options=options, allow_failure=True)
    outcome = out["results"]["outcome"]
    assert outcome["failed"] is True
    for word in words:
        assert word in outcome["msg"]
    assert "Traceback" not in out["output"]
    assert postfix.queue() == before


@pytest.mark.controller_independent
def test_unprivileged_user_lists_a_running_queue(five_queues, postfix, playbook):
    out = playbook("postfix_queue_info", hosts="mailhost_nonroot", scenario="one_call", options={"limit": 0})
    assert out["results"]["outcome"]["summary"]["total"] == sum(five_queues.values())
    # master.pid is root's (mode 0600): a non-root caller finds the master's lock in /proc/locks
    assert out["results"]["outcome"]["instance"]["running"] is True, out["results"]["outcome"]["instance"]


def test_stopped_postfix(five_queues, postfix, playbook):
    """root still lists a stopped Postfix (with Postfix's warning); others get Postfix's refusal."""
    postfix.stop()
    try:
        out = playbook("postfix_queue_info", scenario="one_call", options={"limit": 0})
        outcome = out["results"]["outcome"]
        assert outcome["summary"]["total"] == sum(five_queues.values())
        assert any("Mail system is down" in w for w in outcome["warnings"])
        assert outcome["instance"]["running"] is False, outcome["instance"]
        assert outcome["instance"]["running_reason"].startswith("no master.pid") or \
            "not locked" in outcome["instance"]["running_reason"]
        out = playbook("postfix_queue_info", hosts="mailhost_nonroot", scenario="one_call",
                       options={"limit": 0}, allow_failure=True)
        outcome = out["results"]["outcome"]
        assert outcome["failed"] is True
        assert "Queue report unavailable - mail system is down" in outcome["msg"]
        assert "Postfix is not running" in outcome["msg"]
    finally:
        postfix.start()


@pytest.mark.controller_independent
def test_unprivileged_user_and_an_unlisted_instance(five_queues, postfix, playbook, tmp_path):
    """Postfix refuses -c DIR to non-root users unless the default instance lists DIR."""
    unlisted = "/etc/postfix-unlisted-test"
    shutil.rmtree(unlisted, ignore_errors=True)
    shutil.copytree("/etc/postfix", unlisted)
    try:
        out = playbook("postfix_queue_info", hosts="mailhost_nonroot", scenario="one_call",
                       options={"config_dir": unlisted}, allow_failure=True)
        message = out["results"]["outcome"]["msg"]
        assert "unauthorized configuration directory name: %s" % unlisted in message
        assert "alternate_config_directories" in message
    finally:
        shutil.rmtree(unlisted)


@pytest.fixture(scope="module")
def second_instance(postfix):
    second = live_postfix.configure_second()
    second.start()
    try:
        second.reset()
        second.sendmail("b1@example.org", ["b-rcpt1@example.net"])
        second.sendmail("b2@example.org", ["b-rcpt2@example.net"])
        second.settled({"deferred": 2})
        yield second
        second.reset()
    finally:
        second.stop()


@pytest.mark.controller_independent
def test_second_instance_through_config_dir(five_queues, second_instance, postfix, playbook):
    out = playbook("postfix_queue_info", scenario="one_call",
                   options={"config_dir": second_instance.config_dir, "limit": 10})
    outcome = out["results"]["outcome"]
    instance = outcome["instance"]
    assert dict((key, instance[key]) for key in ("name", "config_dir", "queue_directory", "running")) == {
        "name": "postfix-b", "config_dir": second_instance.config_dir, "queue_directory": "/var/spool/postfix-b",
        "running": True}
    assert instance["running_reason"].startswith("master.pid is locked by the master")
    assert instance["tools"]["postsuper"] == "/usr/sbin/postsuper" and "hash" in instance["map_types"]
    assert sorted(m["sender"] for m in outcome["messages"]) == ["b1@example.org", "b2@example.org"]
    assert outcome["summary"]["total"] == 2
    # the default instance is untouched and still its own
    default = playbook("postfix_queue_info", scenario="one_call", options={"limit": 0})
    assert default["results"]["outcome"]["summary"]["total"] == sum(five_queues.values())


@pytest.mark.controller_independent
def test_selection_on_the_live_queue(five_queues, postfix, playbook):
    queue = postfix.queue()
    out = playbook("postfix_queue_info", scenario="one_call",
                   options={"recipient_domain": ["example.net"], "recipient_match": "all", "limit": 100})
    expected = sorted(m["queue_id"] for m in queue
                      if m["recipients"] and all(r["address"].lower().endswith("@example.net") for r in m["recipients"]))
    assert sorted(m["queue_id"] for m in out["results"]["outcome"]["messages"]) == expected
    assert len(expected) >= 5


def test_the_controllers_connection_plugin_was_used(five_queues, controller, sshd, playbook):
    """ssh (OpenSSH client) on 2.21, paramiko on 2.19: sshd logs the client's software."""
    playbook("postfix_queue_info", scenario="one_call", options={"limit": 0})
    with open(sshd["log"], errors="replace") as handle:
        log = handle.read()
    versions = set(line.split("remote software version ")[1].split()[0]
                   for line in log.splitlines() if "remote software version " in line)
    expected = "paramiko" if controller["connection"] == "paramiko" else "OpenSSH"
    assert versions and all(v.startswith(expected) for v in versions), versions
