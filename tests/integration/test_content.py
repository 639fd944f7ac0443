# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Selection by origin and content, through ansible-playbook over real SSH, on a real Postfix.

The queue holds what real incidents mix: a compromised login sending with forged, rotating envelope senders;
a legitimate login whose mail imitates the compromised one in a header, in the body and in the AUTH= parameter;
unauthenticated SMTP with a forged Postfix Received: header; a web script (sendmail as www-data) with forged
senders; a cron job (sendmail as root); one bounce of Postfix's own. Each selection must pick exactly its
messages - the imitations never - and what is read is only what the options need.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import socket
import stat

import pytest

import live_postfix
from test_queue_action import refused_each, spool_digest, states

INTERN = "intern@example.org"          # the compromised login
ALICE = "alice@example.org"            # a legitimate login
INTERN_CLIENT = "198.51.100.7"
ALICE_CLIENT = "192.0.2.10"
BOB = "bob@example.org"                # unauthenticated SMTP from 127.0.0.1
CRON = "cron@example.org"              # sendmail as root
FILLER = "x" * 76 + "\r\n"


def _kind(message):
    sender = message["sender"]
    if re.match(r"^ceo\d@bank\d\.example$", sender):
        return "intern"
    if re.match(r"^noreply\d@paypal\.example$", sender):
        return "script"
    return {ALICE: "alice", BOB: "bob", CRON: "cron", "MAILER-DAEMON": "bounce"}.get(sender, "other:" + sender)


def _intern_message(index):
    """Subjects: plain, RFC 2047 encoded (0, 2, 4), folded (5); the body's link at the start (0-2) or after
    3,000 bytes of filler (3-5)."""
    if index % 2 == 0:
        subject = "=?UTF-8?B?Q2hlYXAgd2F0Y2hlcw==?= %d" % index         # "Cheap watches N"
    elif index == 5:
        subject = "Cheap\r\n watches %d" % index
    else:
        subject = "Cheap watches %d" % index
    body = ("" if index < 3 else FILLER * 40) + "Buy now: https://watches.example/buy?id=%d\r\n" % index
    return "From: <ceo%d@bank%d.example>\r\nSubject: %s\r\n\r\n%s" % (index, index, subject, body)


@pytest.fixture()
def mixed_queue(postfix):
    """19 deferred messages of six kinds (see the module's docstring), then the queue frozen.

    Returns {kind: sorted queue IDs}, read from the queue once it settled.
    """
    postfix.reset()
    for index in range(6):
        postfix.smtp_as(INTERN, INTERN_CLIENT, "ceo%d@bank%d.example" % (index, index),
                        ["victim%d@example.net" % index], _intern_message(index))
    for index in range(4):
        # imitations of the compromised login: in a header, in the body, and (index 0) in the AUTH= parameter
        # of MAIL FROM, which Postfix records as sasl_sender, not as the login
        text = ("From: <%s>\r\nSubject: Quarterly report %d\r\nX-Trap: named_attribute: sasl_username=%s\r\n"
                "X-Link: watches.example/buy\r\n\r\nsasl_username=%s\r\nlog_client_address=%s\r\n"
                % (ALICE, index, INTERN, INTERN, INTERN_CLIENT))
        postfix.smtp_as(ALICE, ALICE_CLIENT, ALICE, ["partner%d@example.net" % index], text,
                        mail_options=["AUTH=<%s>" % INTERN] if index == 0 else ())
    for index in range(3):
        # a forged Postfix Received: header naming uid 33 first, as a web script's mail has it
        postfix.smtp(BOB, ["friend%d@example.net" % index], subject="Lunch %d" % index,
                     headers=["Received: by mail.example (Postfix, from userid 33)"])
    for index in range(3):
        postfix.sendmail("noreply%d@paypal.example" % index, ["customer%d@example.net" % index],
                         subject="Verify your account", user="www-data",
                         headers=["X-PHP-Originating-Script: 33:wp-mailer.php"])
    for index in range(2):
        postfix.sendmail(CRON, ["admin@example.net"], subject="cron report %d" % index)
    # Postfix's own mail: a message expired and returned makes a bounce from MAILER-DAEMON
    postfix.smtp("expire-me@example.org", ["gone@example.net"], subject="expire me")
    senders = [ALICE, BOB, CRON, "expire-me@example.org"] + ["ceo%d@bank%d.example" % (i, i) for i in range(6)] \
        + ["noreply%d@paypal.example" % i for i in range(3)]
    postfix.settled({"deferred": 19}, senders=senders)
    expire = [m["queue_id"] for m in postfix.queue() if m["sender"] == "expire-me@example.org"]
    postfix.postsuper("-e", expire[0])
    postfix.postqueue("-i", expire[0])
    live_postfix.wait_for(lambda: sorted((m["queue_name"], _kind(m)) for m in postfix.queue()).count(
        ("deferred", "bounce")) == 1, 60, "the bounce of the expired message", postfix.queue)
    postfix.settled({"deferred": 19}, senders=senders + ["MAILER-DAEMON"])
    postfix.freeze()
    kinds = {}
    for message in postfix.queue():
        kinds.setdefault(_kind(message), []).append(message["queue_id"])
    counts = dict((k, len(v)) for k, v in kinds.items())
    assert counts == {"intern": 6, "alice": 4, "bob": 3, "script": 3, "cron": 2, "bounce": 1}, kinds
    yield dict((kind, sorted(ids)) for kind, ids in kinds.items())
    postfix.thaw()


def _ids(kinds, *names):
    return sorted(i for name in names for i in kinds[name])


@pytest.mark.controller_independent
def test_inspect_names_who_is_sending(mixed_queue, playbook):
    """postfix_queue_info inspect: per way in, the logins, the original clients, the local uids, the Subjects."""
    out = playbook("postfix_queue_info", scenario="one_call",
                   options={"inspect": ["origin", "headers"], "summary_top": 30})["results"]["outcome"]
    origins = out["origins"]
    assert origins["read"] == 19 and out["content"] == {"tier": "headers", "read": 19, "gone": 0}
    assert dict((o["origin"], o["messages"]) for o in origins["origins"]) == {"smtp": 13, "local": 5, "internal": 1}
    assert [(row["sasl_username"], row["messages"]) for row in origins["top_sasl_usernames"]] == [
        (INTERN, 6), (ALICE, 4)]
    assert [(row["client_address"], row["messages"]) for row in origins["top_clients"]] == [
        (INTERN_CLIENT, 6), (ALICE_CLIENT, 4), ("127.0.0.1", 3)]
    assert [(row["local_uid"], row["messages"]) for row in origins["top_local_uids"]] == [(33, 3), (0, 2)]
    # decoded (RFC 2047) and unfolded: each "Cheap watches N" once
    expected = dict(("%s %d" % (subject, index), 1) for subject, count in (
        ("Cheap watches", 6), ("Quarterly report", 4), ("Lunch", 3), ("cron report", 2)) for index in range(count))
    expected.update({"Verify your account": 3, "Undelivered Mail Returned to Sender": 1})
    assert dict((row["subject"], row["messages"]) for row in origins["top_subjects"]) == expected
    assert all(row["bytes"] > 0 for row in origins["top_sasl_usernames"])


@pytest.mark.controller_independent
def test_inspect_origin_reads_no_headers(mixed_queue, playbook):
    out = playbook("postfix_queue_info", scenario="one_call",
                   options={"inspect": ["origin"], "sender": ALICE})["results"]["outcome"]
    assert out["content"] == {"tier": "origin", "read": 4, "gone": 0}
    assert [(row["sasl_username"], row["messages"]) for row in out["origins"]["top_sasl_usernames"]] == [(ALICE, 4)]
    assert "top_subjects" not in out["origins"] and "top_local_uids" not in out["origins"]


@pytest.mark.controller_independent
def test_inspect_max_reads_an_even_sample_and_says_so(mixed_queue, playbook):
    out = playbook("postfix_queue_info", scenario="one_call",
                   options={"inspect": ["origin", "headers"], "inspect_max": 5, "limit": 0})["results"]["outcome"]
    assert out["content"] == {"tier": "headers", "read": 5, "gone": 0}          # five queue files read, not 19
    assert out["origins"]["read"] == 5 and out["origins"]["sampled_from"] == 19 == out["summary"]["total"]
    assert sum(row["messages"] for row in out["origins"]["origins"]) == 5


def _selections(kinds, index_of):
    """(options, expected queue IDs, tier read): each option alone, and with others. INDEX_OF gives the index
    of each of the compromised login's messages (the digit in its forged sender)."""
    def intern(where):
        return sorted(i for i in kinds["intern"] if where(index_of[i]))
    return [
        ({"sasl_username": [INTERN]}, _ids(kinds, "intern"), "origin"),
        ({"sasl_username": [INTERN.upper()]}, _ids(kinds, "intern"), "origin"),
        ({"sasl_username": [ALICE]}, _ids(kinds, "alice"), "origin"),
        ({"sasl_username": [INTERN], "sender": ["ceo1@bank1.example"]}, intern(lambda i: i == 1), "origin"),
        ({"client_address": [INTERN_CLIENT]}, _ids(kinds, "intern"), "origin"),
        ({"client_address": ["198.51.100.0/24", "192.0.2.0/24"]}, _ids(kinds, "intern", "alice"), "origin"),
        ({"client_address": ["127.0.0.1"]}, _ids(kinds, "bob"), "origin"),
        ({"client_name_regex": "localhost"}, _ids(kinds, "bob"), "origin"),
        ({"helo_regex": r"client\.example"}, _ids(kinds, "intern", "alice"), "origin"),
        ({"origin": "local"}, _ids(kinds, "script", "cron"), "origin"),
        ({"origin": "internal"}, _ids(kinds, "bounce"), "origin"),
        ({"origin": "smtp"}, _ids(kinds, "intern", "alice", "bob"), "origin"),
        ({"local_uid": [33]}, _ids(kinds, "script"), "headers"),
        ({"local_uid": [0]}, _ids(kinds, "cron"), "headers"),
        ({"header_regex": {"Subject": "^Cheap watches"}}, _ids(kinds, "intern"), "headers"),
        ({"header_regex": {"subject": "cheap WATCHES 5$"}}, intern(lambda i: i == 5), "headers"),   # folded
        ({"header_raw_regex": {"Subject": r"=\?UTF-8\?B\?"}}, intern(lambda i: i % 2 == 0), "headers"),
        ({"header_regex": {"X-PHP-Originating-Script": "wp-mailer"}}, _ids(kinds, "script"), "headers"),
        ({"header_regex": {"X-PHP-Originating-Script": "wp-mailer", "Subject": "Verify"}}, _ids(kinds, "script"),
         "headers"),
        ({"header_regex": {"X-PHP-Originating-Script": "wp-mailer", "Subject": "Lunch"}}, [], "headers"),
        ({"body_regex": r"watches\.example/buy", "body_max_bytes": "64k"}, _ids(kinds, "intern"), "body"),
        ({"body_regex": r"watches\.example/buy", "body_max_bytes": "1k"}, intern(lambda i: i < 3), "body"),
        ({"sender_domain": [".example"], "origin": "smtp", "header_regex": {"Subject": "watches"}},
         _ids(kinds, "intern"), "headers"),
    ]


@pytest.mark.controller_independent
def test_each_selection_picks_exactly_its_messages(mixed_queue, playbook, postfix):
    kinds = mixed_queue
    queue = dict((m["queue_id"], m) for m in postfix.queue())
    index_of = dict((i, int(re.match(r"ceo(\d)", queue[i]["sender"]).group(1))) for i in kinds["intern"])
    cases = _selections(kinds, index_of)
    before = spool_digest()
    out = playbook("postfix_queue_info", scenario="many_calls",
                   cases=[dict(options, limit=1000) for options, _ids_, _tier in cases])["results"]["outcomes"]
    assert len(out) == len(cases)
    for (options, ids, tier), outcome in zip(cases, out):
        assert not outcome.get("failed"), (options, outcome.get("msg"))
        assert sorted(m["queue_id"] for m in outcome["messages"]) == ids, (
            options, [queue[m["queue_id"]]["sender"] for m in outcome["messages"]])
        assert outcome["summary"]["total"] == len(ids), options
        assert outcome["content"]["tier"] == tier, (options, outcome["content"])
    # reading changes nothing
    assert spool_digest() == before


def test_hold_by_login_four_runs(mixed_queue, playbook):
    """The compromised login's mail, whatever its envelope sender: check, real, repeat, repeat in check mode."""
    from test_queue_action import four_runs, _common_checks
    before, runs, queues = four_runs(playbook, action="hold", sasl_username=[INTERN])
    _common_checks(before, runs, queues, mixed_queue["intern"])
    after = states(queues["real"])
    assert all(after[i] == ("hold", False) for i in mixed_queue["intern"])
    assert all(after[m["queue_id"]] == ("deferred", False) for m in before if m["queue_id"] not in mixed_queue["intern"])
    # no envelope option narrows the listing: every queue file is read, once, for its envelope records only
    assert runs["real"]["content"] == {"tier": "origin", "read": 19, "gone": 0}


@pytest.mark.controller_independent
def test_exclude_by_origin_and_content(mixed_queue, playbook):
    """exclude takes the same options: everything deferred but the legitimate login and the cron job."""
    out = playbook("postfix_queue_action", scenario="one_call", check_mode=True,
                   options={"action": "hold", "all": True, "queues": ["deferred"],
                            "exclude": {"sasl_username": [ALICE]}})["results"]["outcome"]
    assert sorted(out["queue_ids"]) == _ids(mixed_queue, "intern", "bob", "script", "cron", "bounce")
    assert out["excluded"] == 4
    out = playbook("postfix_queue_action", scenario="one_call", check_mode=True,
                   options={"action": "hold", "origin": "local",
                            "exclude": {"local_uid": [0]}})["results"]["outcome"]
    assert sorted(out["queue_ids"]) == _ids(mixed_queue, "script") and out["excluded"] == 2


def _queue_file(queue_id, root="/var/spool/postfix"):
    for directory, _dirs, files in os.walk(os.path.join(root, "deferred")):
        if queue_id in files:
            return os.path.join(directory, queue_id)
    raise AssertionError("no queue file for %s" % queue_id)


@pytest.mark.controller_independent
def test_plan_with_content_refuses_a_message_whose_file_changed(mixed_queue, playbook, postfix):
    """A plan made by Subject carries each message's content fingerprint: applying it re-reads the queue files
    and leaves alone a message whose headers changed since (here rewritten in place, same length)."""
    made = playbook("postfix_queue_action", scenario="one_call", check_mode=True,
                    options={"action": "delete", "header_regex": {"Subject": "^Cheap watches"},
                             "return_plan": True})["results"]["outcome"]
    plan = made["plan"]
    assert sorted(e["queue_id"] for e in plan["messages"]) == mixed_queue["intern"]
    assert all(len(e["content_sha256"]) == 64 for e in plan["messages"])
    assert plan["content"] == {"tier": "headers", "headers": ["subject"]}
    changed = mixed_queue["intern"][0]
    path = _queue_file(changed)
    with open(path, "rb") as handle:
        data = handle.read()
    marker = b"Subject: "
    assert data.count(marker) == 1
    at = data.index(marker) + len(marker)
    with open(path, "r+b") as handle:          # one byte of the Subject, in place: the file stays valid
        handle.seek(at)
        handle.write(b"X" if data[at:at + 1] != b"X" else b"Y")
    applied = playbook("postfix_queue_action", scenario="one_call",
                       options={"action": "delete", "plan": plan})["results"]["outcome"]
    assert sorted(applied["queue_ids"]) == sorted(set(mixed_queue["intern"]) - {changed})
    assert [s["queue_id"] for s in applied["skipped_changed"]] == [changed]
    assert "changed" in applied["skipped_changed"][0]["reason"], applied["skipped_changed"]
    assert applied["content"] == {"tier": "headers", "read": 6, "gone": 0}
    left = dict((m["queue_id"], m) for m in postfix.queue())
    assert changed in left and not set(mixed_queue["intern"]) - {changed} & set(left)
    assert len(left) == 19 - 5


@pytest.mark.controller_independent
def test_delete_by_login_archives_privately(mixed_queue, playbook, tmp_path):
    archive_dir = str(tmp_path / "archive")
    out = playbook("postfix_queue_action", scenario="one_call",
                   options={"action": "delete", "sasl_username": [INTERN], "archive_dir": archive_dir}
                   )["results"]["outcome"]
    assert sorted(out["queue_ids"]) == mixed_queue["intern"] and out["archive"]["count"] == 6
    assert out["archive"]["directory"].startswith("%s/%s/postfix/" % (archive_dir, socket.gethostname()))
    modes = []
    for directory, _dirs, files in os.walk(archive_dir):
        modes.append(stat.S_IMODE(os.stat(directory).st_mode))
        modes += [stat.S_IMODE(os.stat(os.path.join(directory, f)).st_mode) | 0o100 for f in files]
    assert set(modes) == {0o700}, [oct(m) for m in modes]


CATASTROPHIC = r"(\w+\s?)*$"

BAD_INPUT = [
    ({"action": "hold", "header_regex": {"Subject": CATASTROPHIC}}, "header_regex.Subject: "),
    ({"action": "hold", "body_regex": "(a|aa)+$", "body_max_bytes": "4k"}, "body_regex: "),
    ({"action": "hold", "helo_regex": "x" * 1001}, "more than 1000"),
    ({"action": "hold", "client_address": ["300.1.1.1/8"]}, "is not an IP address or a network"),
    ({"action": "hold", "client_address": ["192.0.2.0/33"]}, "is not an IP address or a network"),
    ({"action": "hold", "header_regex": {"Subject:": "x"}}, "is not a header name"),
    ({"action": "hold", "header_regex": {"Sub ject": "x"}}, "is not a header name"),
    ({"action": "hold", "header_regex": "Subject: x"}, "header_regex' is of type str and we were unable to convert to dict"),
    ({"action": "hold", "body_regex": "unsubscribe"}, "body_regex needs body_max_bytes"),
    ({"action": "hold", "sender": BOB, "body_max_bytes": "64k"}, "body_max_bytes is only for body_regex"),
    ({"action": "hold", "body_regex": "x", "body_max_bytes": "lots"}, "expected a size"),
    ({"action": "hold", "body_regex": "x", "body_max_bytes": 0}, "must be more than 0"),
    ({"action": "hold", "origin": "web"}, "value of origin must be one of"),
    ({"action": "hold", "local_uid": ["www-data"]}, "local_uid"),
    ({"action": "hold", "sasl_username": [""]}, "an empty string matches nothing"),
    ({"action": "delete", "all": True, "exclude": {"header_regex": {"Subject": "(\\w+)+$"}}}, "exclude."),
]


def test_bad_input_changes_nothing(mixed_queue, playbook):
    before = spool_digest()
    refused_each(playbook, BAD_INPUT)
    info = playbook("postfix_queue_info", scenario="many_calls",
                    cases=[{"inspect": ["body"]}, {"header_regex": {"Subject": CATASTROPHIC}}])["results"]["outcomes"]
    assert "value of inspect must be one or more of" in info[0]["msg"]
    assert "header_regex.Subject" in info[1]["msg"] and "exponentially" in info[1]["msg"]
    assert spool_digest() == before


@pytest.mark.controller_independent
def test_an_incident_s_first_purge_counts_the_junk_by_login_and_bounds_the_purge(mixed_queue, playbook, postfix, tmp_path):
    """The hold records the junk (by login) and reads nothing; the first purge counts it among what the incident held
    by reading the held messages' queue files (the imitations of the login are not junk): a purge wider than that count
    deletes nothing; the purge by login deletes exactly the junk."""
    out = playbook("postfix_queue_action", scenario="incident_hold_purge", state_dir=str(tmp_path / "state"),
                   archive_dir=str(tmp_path / "archive"), junk_logins=[INTERN])["results"]
    held, wide, purged = out["held"], out["wide"], out["purged"]
    assert not held.get("failed") and held["changed_count"] == 19, held
    assert held["listed_from"] == "queue directories"     # whole queues: the junk is recorded, not counted
    assert held["incident"]["junk_held"] is None and "junk_reading" not in held["incident"], held["incident"]
    assert wide["failed"] and "matches 19 messages" in wide["msg"], wide
    assert "only 6 of the messages the incident held match the junk its hold recorded" in wide["msg"], wide
    assert wide["changed_count"] == 0
    assert not purged.get("failed") and sorted(purged["queue_ids"]) == mixed_queue["intern"], purged
    assert purged["incident"]["junk_held"] == len(mixed_queue["intern"]) == 6, purged["incident"]
    assert purged["archive"]["count"] == 6
    left = sorted(m["queue_id"] for m in postfix.queue() if m["queue_name"] == "hold")
    assert left == sorted(i for kind, ids in mixed_queue.items() if kind != "intern" for i in ids)


@pytest.mark.controller_independent
def test_the_hold_and_the_purge_take_the_assessment_s_verdicts_and_read_only_what_arrived_since(
        mixed_queue, playbook, postfix, tmp_path):
    """The assessment reads the junk's queue files once and keeps its verdicts on the host (0600); the hold reads
    nothing (it records the junk); a message of the login arriving after the assessment is read by the purge's
    selection, which takes the other 19 verdicts, and its count of the junk held takes all 20; the purge deletes
    exactly the login's 7 messages."""
    state_dir = tmp_path / "state"
    assessed = playbook("postfix_queue_action", scenario="incident_remembered_assess", state_dir=str(state_dir),
                        junk_logins=[INTERN])["results"]["assessed"]
    assert assessed["subsets"]["junk"]["total"] == 6 and assessed["content"]["read"] == 19, assessed["content"]
    kept = state_dir / "postfix" / "verdicts.json"
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    postfix.smtp_as(INTERN, INTERN_CLIENT, "ceo9@bank9.example", ["victim9@example.net"], _intern_message(9))
    live_postfix.wait_for(lambda: postfix.by_queue() == {"deferred": 19, "incoming": 1}, 60,
                          "the login's new message in incoming", postfix.queue)
    late = [m["queue_id"] for m in postfix.queue() if m["queue_name"] == "incoming"]
    out = playbook("postfix_queue_action", scenario="incident_remembered_act", state_dir=str(state_dir),
                   archive_dir=str(tmp_path / "archive"), junk_logins=[INTERN])["results"]
    held, purged = out["held"], out["purged"]
    assert not held.get("failed") and held["changed_count"] == 20, held
    assert held["listed_from"] == "queue directories"
    assert held["incident"]["junk_held"] is None and "junk_reading" not in held["incident"], held["incident"]
    assert not purged.get("failed") and sorted(purged["queue_ids"]) == sorted(mixed_queue["intern"] + late), purged
    # the purge's selection reads only the late message; its count of the junk held takes all 20 verdicts
    assert purged["content"] == {"tier": "origin", "read": 1, "remembered": 19, "gone": 0}, purged["content"]
    assert purged["incident"]["junk_held"] == 7, purged["incident"]
    assert purged["incident"]["junk_reading"] == {"remembered": 20, "read": 0, "gone": 0}, purged["incident"]
    assert purged["archive"]["count"] == 7
    left = sorted(m["queue_id"] for m in postfix.queue() if m["queue_name"] == "hold")
    assert left == sorted(i for kind, ids in mixed_queue.items() if kind != "intern" for i in ids)
