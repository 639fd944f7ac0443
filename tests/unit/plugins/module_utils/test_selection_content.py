# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The origin and content options on real queue files; their bad input; the one table behind the selector, the
argument spec and the docs; bounded regexes."""

from __future__ import absolute_import, division, print_function

import os
import re
import time

import pytest

from ansible_collections.mailops.postfix.plugins.doc_fragments.postfix import ModuleDocFragment
from ansible_collections.mailops.postfix.plugins.module_utils import _argspec, _postcat, _regex, _selection
from ansible_collections.mailops.postfix.plugins.module_utils._selection import SelectionError, Selector
from ansible_collections.mailops.postfix.tests.unit import captures


def raw(name):
    with open(os.path.join(captures.FIXTURES, name), "rb") as handle:
        return handle.read()


def queue_file(name, ids, queue_id, **kwargs):
    return _postcat.queue_file(_postcat.split(raw(name), ids)[queue_id], **kwargs)


SMTP = queue_file("postcat-eq_deferred_multi.stdout", ["32D2F160014"], "32D2F160014")
LOCAL = queue_file("postcat-q_two_ids.stdout", ["767F0160023", "52C091601EB"], "767F0160023", headers=True,
                   body_limit=1000)
BOUNCE = queue_file("postcat-q_bounce_nullsender.stdout", ["623E4160083"], "623E4160083", headers=True,
                    body_limit=100000)
AUTHENTICATED = dict(SMTP, attributes=dict(SMTP["attributes"], sasl_method="PLAIN", sasl_username="Alice@Example.ORG",
                                           sasl_sender="boss@example.org"))


def matching(options, files=(SMTP, LOCAL, BOUNCE, AUTHENTICATED)):
    selector = Selector(**options)
    return [index for index, item in enumerate(files) if selector.matches_file(item)]


@pytest.mark.parametrize("options, expected, tier", [
    ({"sasl_username": ["alice@example.org"]}, [3], "origin"),
    ({"sasl_username": ["boss@example.org"]}, [], "origin"),       # sasl_sender (AUTH=) is never a login
    ({"client_address": ["127.0.0.0/8"]}, [0, 3], "origin"),
    ({"client_address": ["127.0.0.1", "2001:db8::/32"]}, [0, 3], "origin"),
    ({"client_address": ["10.0.0.0/8"]}, [], "origin"),
    ({"client_name_regex": "local.*"}, [0, 3], "origin"),
    ({"helo_regex": "injector\\.test"}, [0, 3], "origin"),
    ({"helo_regex": "injector"}, [], "origin"),                    # a name must match whole
    ({"origin": "smtp"}, [0, 3], "origin"),
    ({"origin": "local"}, [1], "origin"),
    ({"origin": "internal"}, [2], "origin"),
    ({"local_uid": [0]}, [1], "headers"),
    ({"local_uid": ["0", 33]}, [1], "headers"),
    ({"header_regex": {"subject": "undelivered"}}, [2], "headers"),  # searched, case-insensitive, name too
    ({"header_regex": {"Subject": "^test 1$"}}, [1], "headers"),
    ({"header_regex": {"Subject": "test", "From": "root"}}, [1], "headers"),
    ({"header_regex": {"Subject": "test", "From": "nobody"}}, [], "headers"),
    ({"header_raw_regex": {"Content-Type": "multipart/report"}}, [2], "headers"),
    ({"body_regex": "could not\\s+be delivered", "body_max_bytes": "4k"}, [2], "body"),
    ({"body_regex": "could not\\s+be delivered", "body_max_bytes": 100}, [], "body"),   # past the bound: not read
])
def test_origin_and_content_options(options, expected, tier):
    selector = Selector(**options)
    assert selector.needs == tier and not selector.is_empty
    assert matching(options) == expected


def test_content_options_and_envelope_options_are_anded_in_tiers():
    selector = Selector(sender=["multi-sender@example.org"], origin="smtp", header_regex={"Subject": "x"})
    assert selector.needs == "headers"
    assert selector.content_given == {"origin": "smtp", "header_regex": {"subject": "x"}}
    assert "sender" in selector.given and "sender" not in selector.content_given


@pytest.mark.parametrize("options, words", [
    ({"client_address": ["10.0.0.0/33"]}, "client_address: '10.0.0.0/33' is not an IP address or a network"),
    ({"client_address": ["mx.example.org"]}, "client_address: 'mx.example.org' is not an IP address"),
    ({"header_regex": {"Subject:": "x"}}, "header_regex: 'Subject:' is not a header name"),
    ({"header_regex": {"X-Bad\nName": "x"}}, "is not a header name"),
    ({"header_regex": {"X Space": "x"}}, "is not a header name"),
    ({"header_regex": {"Subject": "(unclosed"}}, "header_regex.Subject: invalid regular expression"),
    ({"header_regex": "Subject: x"}, "header_regex: expected a dictionary"),
    ({"header_regex": {}}, "header_regex: expected a dictionary"),
    ({"body_regex": "viagra"}, "body_regex needs body_max_bytes"),
    ({"body_max_bytes": "64k"}, "body_max_bytes is only for body_regex"),
    ({"body_regex": "x", "body_max_bytes": 0}, "body_max_bytes: must be more than 0"),
    ({"origin": "web"}, "origin: expected one of smtp, local, internal"),
    ({"local_uid": ["www-data"]}, "local_uid: expected numeric user IDs"),
    ({"sasl_username": [""]}, "sasl_username: an empty string matches nothing"),
    ({"sender_regex": "(a+)+$"}, "sender_regex: '(a+)+$' has a quantifier inside a quantified part"),
    ({"header_regex": {"Subject": "(\\w+\\s?)*$"}}, "header_regex.Subject"),
    ({"body_regex": "(x|)*", "body_max_bytes": 10}, "repeats without bound a part that can match nothing"),
    ({"recipient_regex": "a" * 1001}, "recipient_regex: the regular expression is 1001 characters long, more than 1000"),
])
def test_bad_origin_and_content_options_are_clear_errors(options, words):
    with pytest.raises(SelectionError) as error:
        Selector(**options)
    assert words in str(error.value)


def test_one_table_drives_the_selector_the_argument_spec_and_the_docs():
    names = [option.name for option in _selection.OPTIONS]
    assert list(_argspec.selection_argument_spec()) == names
    documented = _selection.doc_fragment()
    assert list(documented) == names
    for option in _selection.OPTIONS:
        spec = _argspec.selection_argument_spec()[option.name]
        assert dict((key, documented[option.name][key]) for key in spec) == spec
        assert documented[option.name]["description"]
    assert '\n  sasl_username:\n' in ModuleDocFragment.SELECTION and '\n  body_max_bytes:\n' in ModuleDocFragment.SELECTION
    assert set(Selector.OPTIONS) == set(names)


@pytest.mark.parametrize("pattern", [
    r"spammer@example\.org", r".*Connection refused.*", r"(?i)cheap watches", r"[^@]+@example[.]com", r"(foo|bar)+",
    r"(\d{1,3}\.){3}\d{1,3}", r"wp-mailer", r"user[0-9]+@victim[0-9]{2}\.example", r".*(pills|viagra).*",
    r"(?:[a-z0-9-]+\.)+example\.net", r"(\w+\.)+example\.org", r"(\S+\s)+end", r"^(re|fwd): .*",
])
def test_patterns_users_write_are_accepted(pattern):
    _regex.compile_bounded(pattern, "x", SelectionError)


@pytest.mark.parametrize("pattern", [
    r"(a+)+$", r"(\w+\s?)*$", r"(a|ab)*c", r"(x|)*", r"(a*)*", r"((ab)*)+", r"(.*a){20}", r"(a?)*b",
    r"(\w+\.?)+@example[.]com", r"(\w+\w)+x", r"(.+\.)+x", r"([a-z.]+\.)+x",
])
def test_patterns_that_backtrack_catastrophically_are_refused(pattern):
    with pytest.raises(SelectionError, match="matching it can take time that grows exponentially"):
        _regex.compile_bounded(pattern, "x", SelectionError)


def test_the_cpu_budget_ends_a_runaway_match():
    """A pattern the shape check cannot see (here compiled directly) still ends: the budget interrupts the match."""
    runaway = re.compile(r"(a+)+$")
    started = time.process_time()
    with pytest.raises(SelectionError, match="more than 0.2 s"):
        with _regex.CpuBudget(0.2, "more than 0.2 s", SelectionError):
            runaway.match("a" * 40 + "b")
    assert time.process_time() - started < 5
    # disarmed afterwards: nothing fires later
    with _regex.CpuBudget(0.2, "never", SelectionError):
        pass
    deadline = time.process_time() + 0.5
    while time.process_time() < deadline:
        pass


def test_the_selection_budget_names_its_regexes():
    selector = Selector(sender_regex=".*@example[.]org", header_regex={"Subject": "x"})
    budget = _selection.budget([selector, None])
    assert budget.seconds == _regex.CPU_BUDGET
    assert "header_regex.subject='x'" in budget.message and "sender_regex='.*@example[.]org'" in budget.message
    assert _selection.budget([Selector(sender=["a@b.c"])]).seconds == 0


def captured(name, ids, queue_id, **kwargs):
    return queue_file(name, ids, queue_id, **kwargs)


SPOOFED = captured("content_xclient_spoofed_postcat-ehq.stdout", ["DFF2E17411C"], "DFF2E17411C", headers=True)
OFFICE = captured("content_two_logins_postcat-ehq.stdout", ["DFF2E17411C", "E3C62174122"], "E3C62174122",
                  headers=True)
SCRIPT = captured("content_local_script_postcat-ehq.stdout", ["E960E174127"], "E960E174127", headers=True,
                  owner_uid=102)
REQUEUED = captured("content_local_script_requeued_postcat-ehq.stdout", ["1312117412A"], "1312117412A",
                    headers=True, owner_uid=102)
LIVE_BOUNCE = captured("content_bounce_postcat-ehq.stdout", ["1BD6617412E"], "1BD6617412E", headers=True,
                       owner_uid=102)
LIVE = (SPOOFED, OFFICE, SCRIPT, REQUEUED, LIVE_BOUNCE)


@pytest.mark.parametrize("options, expected", [
    # the login Postfix recorded matches; the one the spammer wrote as a header never does
    ({"sasl_username": ["intern@example.org"]}, [0]),
    ({"sasl_username": ["boss@example.org"]}, []),
    ({"sasl_username": ["BOB@example.org"]}, [1]),
    ({"client_address": ["198.51.100.0/24"]}, [0]),
    ({"client_address": ["10.0.0.1"]}, []),
    ({"client_address": ["192.0.2.0/28"]}, [1]),
    ({"origin": "local"}, [2, 3]),
    ({"origin": "internal"}, [4]),
    ({"origin": "smtp"}, [0, 1]),
    ({"local_uid": [999]}, [2, 3]),            # requeued: pickup's own Received (the mail owner) is skipped
    ({"local_uid": [102]}, []),
    ({"header_regex": {"X-PHP-Originating-Script": "wp-mailer"}}, [2, 3]),
    ({"header_regex": {"Subject": u"cheap watches \u270cf\u00fcr sie"}}, [0]),   # decoded, folded words joined
    ({"header_raw_regex": {"Subject": "=\\?UTF-8\\?B\\?Q2hlYXAg"}}, [0]),
    ({"header_regex": {"X-Folded": "first part\\tsecond part"}}, [0]),
    ({"header_regex": {"named_attribute": "sasl_username=boss"}}, [0]),      # a header like any other - as a header
])
def test_options_on_live_captures(options, expected):
    assert matching(options, LIVE) == expected


def test_who_is_sending_over_live_captures():
    from ansible_collections.mailops.postfix.plugins.module_utils._summary import Origins
    origins = Origins(top=5, headers=True)
    for number, item in enumerate(LIVE):
        origins.add({"message_size": 100 * (number + 1)}, item)
    result = origins.result()
    assert result["read"] == 5
    assert [row["sasl_username"] for row in result["top_sasl_usernames"]] == ["bob@example.org", "intern@example.org"]
    assert [row["client_address"] for row in result["top_clients"]] == ["192.0.2.10", "198.51.100.77"]
    assert [row["local_uid"] for row in result["top_local_uids"]] == [999]
    assert result["top_local_uids"][0]["messages"] == 2
    assert dict((row["origin"], row["messages"]) for row in result["origins"]) == {"smtp": 2, "local": 2, "internal": 1}
    assert u"Cheap watches \u270cf\u00fcr Sie" in [row["subject"] for row in result["top_subjects"]]


def test_a_big_message_read_with_its_headers_prints_no_body():
    name = "content_big_postcat-ehq.stdout"
    big = queue_file(name, ["EEA47174128"], "EEA47174128", headers=True)
    assert len(raw(name)) < 2000 and big["body"] is None
    assert big["headers"]["subject"] == [("big", "big")]
