# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure part of postfix_block: entries checked, map text, the restriction lists after blocking."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _access

SENDER, CLIENT, SASL = _access.BLOCKS
# Postfix 3.7's defaults (postconf -d): empty restriction lists, anyone may submit
DEFAULTS = {"smtpd_sender_restrictions": "", "smtpd_client_restrictions": "", "authorized_submit_users": "static:anyone"}


def test_a_sender_and_a_login_both_go_first_in_the_sender_restrictions_the_later_one_first():
    new = _access.new_parameters(DEFAULTS, [(SENDER, "/etc/postfix/s"), (SASL, "/etc/postfix/l")], "hash", [])
    assert new == {"smtpd_sender_restrictions": "check_sasl_access hash:/etc/postfix/l, check_sender_access hash:/etc/postfix/s"}


def test_nothing_changes_when_every_table_is_already_in_its_list_wherever_the_operator_put_it():
    current = dict(DEFAULTS, smtpd_sender_restrictions="permit_mynetworks, check_sender_access hash:/etc/postfix/s",
                   authorized_submit_users="!www-data, static:anyone")
    assert _access.new_parameters(current, [(SENDER, "/etc/postfix/s")], "hash", ["www-data"]) == {}


def test_the_map_type_is_part_of_the_table_so_another_type_is_added():
    current = dict(DEFAULTS, smtpd_client_restrictions="check_client_access hash:/etc/postfix/c")
    new = _access.new_parameters(current, [(CLIENT, "/etc/postfix/c")], "lmdb", [])
    assert new == {"smtpd_client_restrictions": "check_client_access lmdb:/etc/postfix/c, check_client_access hash:/etc/postfix/c"}


def test_local_users_go_ahead_of_the_default_only_those_not_refused_yet():
    current = dict(DEFAULTS, authorized_submit_users="!mallory, static:anyone")
    assert _access.new_parameters(current, [], "hash", ["mallory", "www-data"]) == {
        "authorized_submit_users": "!www-data, !mallory, static:anyone"}


def test_the_parameters_read_are_the_lists_of_the_kinds_given_once_each():
    assert _access.restriction_parameters([(SENDER, "/s"), (SASL, "/l")], ["u"]) == [
        "smtpd_sender_restrictions", "authorized_submit_users"]
    assert _access.restriction_parameters([], []) == []


def test_map_text_is_one_key_and_action_per_line():
    text = _access.map_text(["spammer@example.com", "@spam.example"], "REJECT no")
    assert text.splitlines()[1:] == ["spammer@example.com REJECT no", "@spam.example REJECT no"]
    assert text.startswith("# ") and text.endswith("\n")


def test_a_key_given_twice_is_written_once():
    text = _access.map_text(["a@example.com", "b@example.com", "a@example.com"], "REJECT")
    assert text.splitlines()[1:] == ["a@example.com REJECT", "b@example.com REJECT"]


@pytest.mark.parametrize("values, names, expected", [
    ({"senders": ["spammer@example.com OK"]}, "option", "senders[0]: 'spammer@example.com OK' has whitespace"),
    ({"fix_block_senders": ["<>"]}, "variable", "fix_block_senders[0]: '<>' would refuse every bounce"),
    ({"clients": ["10.1.2.0/24"]}, "option", "clients[0]: '10.1.2.0/24': an indexed access map does not understand CIDR"),
    ({"sasl_users": ["intern@example.org\tOK"]}, "option", "sasl_users[0]"),
    ({"local_users": ["www data"]}, "option", "local_users[0]: 'www data' is not a local user name"),
    ({"fix_block_local_users": "www-data"}, "variable", "fix_block_local_users: expected a list"),
])
def test_bad_entries_are_named_by_the_caller_s_option(values, names, expected):
    problems = _access.entry_problems(values, names=names)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_good_entries_pass_under_either_naming():
    values = {"senders": ["webmaster@example.org", "@spam.example", "mallory@"], "clients": ["192.0.2.7", "198.51.100"],
              "sasl_users": ["intern@example.org"], "local_users": ["www-data"]}
    assert _access.entry_problems(values) == []
    assert _access.entry_problems({"fix_block_" + k: v for k, v in values.items()},
                                  names="variable") == []


@pytest.mark.parametrize("action, ok", [
    ("REJECT blocked", True), ("DEFER_IF_PERMIT", True), ("554 5.7.1 go away", True), ("HOLD", True),
    ("OK", False), ("PERMIT", False), ("250 fine", False), ("REJECT\nOK", False), (5, False)])
def test_only_actions_that_refuse_are_accepted(action, ok):
    assert (_access.check_reject_action("reject_action", action) == []) is ok
