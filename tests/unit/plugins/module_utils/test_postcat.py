# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postcat's output parsed: split per message by its markers, and read as queue files (attributes, origin,
headers, body) - on real captures, and on what a spammer can put in a message."""

from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _postcat
from ansible_collections.mailops.postfix.tests.unit import captures


def raw(name):
    with open(os.path.join(captures.FIXTURES, name), "rb") as handle:
        return handle.read()


def test_two_messages_in_one_postcat_run():
    messages = _postcat.split(raw("postcat-q_two_ids.stdout"), ["767F0160023", "52C091601EB"])
    assert sorted(messages) == ["52C091601EB", "767F0160023"]
    first = messages["767F0160023"]
    assert first["queue"] == "deferred"
    assert first["content"].startswith(b"Received: by vm (Postfix, from userid 0)\n")
    assert first["content"].endswith(b"\n\nhello\n")
    assert _postcat.envelope_of(first["envelope"]) == ("alice@example.org", ["bob@example.net"])
    second = messages["52C091601EB"]
    assert second["queue"] == "hold"
    assert _postcat.envelope_of(second["envelope"]) == ("held-sender@example.org", ["h1@example.net", "h2@example.com"])
    assert b"*** " not in first["content"] + second["content"]


def test_single_message_equals_its_own_capture():
    alone = _postcat.split(raw("postcat-q_deferred_multi.stdout"), ["32D2F160014"])["32D2F160014"]
    body_only = raw("postcat-bq_deferred_multi.stdout")
    assert alone["content"].endswith(body_only)          # postcat -b printed the same body


def test_maildrop_and_utf8():
    drop = _postcat.split(raw("postcat-q_maildrop.stdout"), ["8D9F3160044"])["8D9F3160044"]
    assert drop["queue"] == "maildrop" and drop["content"] == b"Subject: in maildrop 1\n\nbody\n"
    utf8 = _postcat.split(raw("postcat-q_utf8.stdout"), ["106AB1600C3"])["106AB1600C3"]
    assert u"\u2603".encode("utf-8") in utf8["content"]
    sender, recipients = _postcat.envelope_of(utf8["envelope"])
    assert sender == u"jos\u00e9@ex\u00e4mple.org" and len(recipients) == 3


def test_null_sender_envelope_is_empty():
    bounce = _postcat.split(raw("postcat-q_bounce_nullsender.stdout"), ["623E4160083"])["623E4160083"]
    assert _postcat.envelope_of(bounce["envelope"])[0] == ""


def test_envelope_sender_is_the_last_sender_record_of_every_capture():
    """One search from the end gives what reading every record gives (the last sender: record), on each capture."""
    import re
    every_sender = re.compile(r"^sender: (.*)$", re.MULTILINE)
    seen = 0
    for name in sorted(os.listdir(captures.FIXTURES)):
        if not (name.startswith(("postcat-q_", "postcat-eq_", "postcat-ehq_", "content_")) and name.endswith(".stdout")):
            continue
        output = raw(name)
        ids = [m.group(1).decode() for m in re.finditer(rb"^\*\*\* ENVELOPE RECORDS \S*/([0-9A-Za-z]+) \*\*\*$", output, re.M)]
        try:
            printed = _postcat.split(output, ids)
        except _postcat.PostcatError:
            continue                                   # the captures of broken output are tested on their own
        for message in printed.values():
            senders = every_sender.findall(message["envelope"])
            assert _postcat.envelope_sender(message["envelope"]) == (senders[-1] if senders else None), name
            seen += 1
    assert seen >= 10
    assert _postcat.envelope_sender("sender: first@example.org\nrecipient: r@example.net\n") == "first@example.org"
    assert _postcat.envelope_sender("recipient: r@example.net\nsender: last@example.org") == "last@example.org"
    assert _postcat.envelope_sender("recipient: r@example.net\n") is None


def test_first_missing_id_is_fatal_and_named():
    out, err = raw("postcat-q_one_good_one_bad.stdout"), captures.read("postcat-q_one_good_one_bad.stderr")
    printed = _postcat.split(out, ["767F0160023", "0000000DEAD"])
    assert list(printed) == ["767F0160023"]
    assert _postcat.missing_id(err) == "0000000DEAD"
    assert _postcat.split(raw("postcat-q_bad_then_good.stdout"), ["0000000DEAD", "767F0160023"]) == {}
    assert _postcat.missing_id(captures.read("postcat-q_malformed.stderr")) is None


@pytest.mark.parametrize("mutate", [
    lambda b: b.replace(b"*** MESSAGE FILE END deferred/7/767F0160023 ***\n", b""),        # cut short
    lambda b: b"stray line\n" + b,
    lambda b: b.replace(b"*** HEADER EXTRACTED deferred/7/767F0160023 ***\n", b""),       # marker missing
    lambda b: b.replace(b"*** MESSAGE FILE END deferred/7/767F0160023 ***\n",
                        b"*** MESSAGE FILE END deferred/7/767F0160023 ***\nbetween\n"),   # between two messages
    lambda b: b + b"after the last\n",
    lambda b: b[:b.index(b"*** HEADER EXTRACTED deferred/7/767F0160023 ***")],             # ends in the content
])
def test_broken_output_is_refused(mutate):
    with pytest.raises(_postcat.PostcatError):
        _postcat.split(mutate(raw("postcat-q_two_ids.stdout")), ["767F0160023", "52C091601EB"])


def test_a_marker_line_in_a_message_is_content():
    """A message whose body quotes postcat's markers (one forwarded from a postmaster, say) is cut where
    Postfix's own markers are, not where its text looks like one."""
    original = raw("postcat-q_two_ids.stdout")
    quoted = b"*** MESSAGE FILE END deferred/7/52C091601EB ***\n*** ENVELOPE RECORDS deferred/1/0000000BEEF ***\n"
    marker = b"*** HEADER EXTRACTED deferred/7/767F0160023 ***\n"
    printed = _postcat.split(original.replace(marker, quoted + marker), ["767F0160023", "52C091601EB"])
    before = _postcat.split(original, ["767F0160023", "52C091601EB"])
    assert printed["767F0160023"]["content"] == before["767F0160023"]["content"] + quoted
    assert printed["52C091601EB"] == before["52C091601EB"]


def test_a_marker_line_naming_another_queue_path_is_content():
    """A message's next marker is the exact line naming its own queue path and ID: the same ID under another queue
    (a line written to look like the message moved) does not end the content."""
    original = raw("postcat-q_two_ids.stdout")
    lookalike = b"*** HEADER EXTRACTED hold/767F0160023 ***\n*** MESSAGE FILE END hold/767F0160023 ***\n"
    marker = b"*** HEADER EXTRACTED deferred/7/767F0160023 ***\n"
    printed = _postcat.split(original.replace(marker, lookalike + marker), ["767F0160023", "52C091601EB"])
    assert printed["767F0160023"]["content"].endswith(b"\n" + lookalike)
    assert printed["767F0160023"]["queue"] == "deferred"


def test_an_attribute_lookalike_inside_an_envelope_record_is_no_attribute():
    """Only a record that starts with 'named_attribute: ' is one: a recipient (which the sender chooses) holding
    the words never gives an attribute."""
    original = raw("postcat-q_two_ids.stdout")
    forged = b'recipient: "x named_attribute: sasl_username=boss@example.org"@example.net\n'
    output = original.replace(b"recipient: bob@example.net\n", b"recipient: bob@example.net\n" + forged, 1)
    assert output != original
    message = read_files_from(output, "767F0160023")
    assert "sasl_username" not in message["attributes"]


def test_unexpected_message_is_refused():
    with pytest.raises(_postcat.PostcatError):
        _postcat.split(raw("postcat-q_two_ids.stdout"), ["767F0160023"])


def read_files(name, ids, **kwargs):
    printed = _postcat.split(raw(name), ids)
    return dict((queue_id, _postcat.queue_file(printed[queue_id], **kwargs)) for queue_id in ids)


def test_attributes_and_origin_of_real_queue_files():
    smtp = read_files("postcat-eq_deferred_multi.stdout", ["32D2F160014"])["32D2F160014"]
    assert smtp["origin"] == "smtp" and smtp["sender"] == "multi-sender@example.org"
    assert smtp["attributes"]["log_client_address"] == "127.0.0.1" and smtp["attributes"]["log_helo_name"] == "injector.test"
    assert smtp["headers"] == {} and smtp["body"] is None            # -e: nothing of the content was read
    local = read_files("postcat-q_two_ids.stdout", ["767F0160023", "52C091601EB"], headers=True)
    assert local["767F0160023"]["origin"] == "local" and local["767F0160023"]["local_uid"] == 0
    assert local["52C091601EB"]["origin"] == "smtp" and local["52C091601EB"]["local_uid"] is None
    bounce = read_files("postcat-q_bounce_nullsender.stdout", ["623E4160083"], headers=True)["623E4160083"]
    assert bounce["origin"] == "internal" and bounce["sender"] == "" and bounce["local_uid"] is None
    dropped = read_files("postcat-q_maildrop.stdout", ["8D9F3160044"], headers=True)["8D9F3160044"]
    assert dropped["origin"] == "local" and dropped["headers"]["subject"] == [("in maildrop 1", "in maildrop 1")]


def test_headers_are_unfolded_with_names_case_insensitive():
    held = read_files("postcat-ehq_three_ids_with_markers.stdout", ["02EF61722E4", "1077A1722F1", "10A131722C0"],
                      headers=True)["02EF61722E4"]
    assert held["headers"]["subject"] == [("[HOLD] pc", "[HOLD] pc")]
    (received,) = held["headers"]["received"]
    assert received[1] == ("from vm (localhost [127.0.0.1])\tby vm-bench (Postfix) with SMTP id 02EF61722E4\t"
                           "for <r@example.net>; Sun, 29 Nov 2026 13:55:48 +0000 (UTC)")
    bounce = read_files("postcat-q_bounce_nullsender.stdout", ["623E4160083"], headers=True)["623E4160083"]
    expected = 'multipart/report; report-type=delivery-status;\tboundary="60461160035.1795959474/vm"'
    assert bounce["headers"]["content-type"][0][1] == expected


def test_rfc2047_words_are_decoded_and_the_raw_value_kept():
    output = raw("postcat-q_two_ids.stdout").replace(
        b"Subject: test 1\n", b"Subject: =?UTF-8?B?Q2hlYXAgd2F0Y2hlcyDinIw=?=\n =?ISO-8859-1?Q?f=FCr_Sie?=\n")
    (message,) = [read_files_from(output, "767F0160023")]
    ((decoded, raw_value),) = message["headers"]["subject"]
    assert decoded == u"Cheap watches \u270cf\u00fcr Sie" and raw_value.startswith("=?UTF-8?B?")


def read_files_from(output, queue_id, **kwargs):
    printed = _postcat.split(output, [queue_id, "52C091601EB"])
    return _postcat.queue_file(printed[queue_id], headers=True, **kwargs)


def test_a_spoofed_attribute_header_is_content_never_an_attribute():
    """A spammer writes 'named_attribute: sasl_username=boss' as a header: postcat prints it at column 0 in the
    content; it never becomes the message's login, and its own login (none here) stays what Postfix recorded."""
    spoof = b"named_attribute: sasl_username=boss@example.org\nnamed_attribute: log_client_address=10.9.9.9\n"
    output = raw("postcat-q_two_ids.stdout").replace(b"Subject: test 1\n", b"Subject: test 1\n" + spoof)
    message = read_files_from(output, "767F0160023")
    assert "sasl_username" not in message["attributes"] and message["origin"] == "local"
    assert message["headers"]["named_attribute"][0][0] == "sasl_username=boss@example.org"


def test_a_forged_pickup_header_in_network_mail_gives_no_uid():
    """An SMTP message carrying 'Received: by x (Postfix, from userid 33)' (forged) has no local uid."""
    output = raw("postcat-q_two_ids.stdout").replace(
        b"Received: from", b"Received: by mx (Postfix, from userid 33)\nReceived: from", 1)
    message = _postcat.queue_file(_postcat.split(output, ["767F0160023", "52C091601EB"])["52C091601EB"], headers=True)
    assert message["origin"] == "smtp" and message["local_uid"] is None


def test_the_body_is_read_only_when_asked_and_only_so_much():
    printed = _postcat.split(raw("postcat-q_bounce_nullsender.stdout"), ["623E4160083"])["623E4160083"]
    assert _postcat.queue_file(printed, headers=True)["body"] is None
    body = _postcat.queue_file(printed, body_limit=40)["body"]
    assert body == b"This is a MIME-encapsulated message.\n\n--"


def test_a_requeued_local_message_keeps_its_submitters_uid():
    """postsuper -r sends local mail through pickup again, which puts its own Received (the mail owner's uid) first:
    the submitter's uid is the first other one (captured: Postfix 3.7.11, a web script's mail requeued)."""
    output = raw("postcat-q_two_ids.stdout").replace(
        b"Received: by vm (Postfix, from userid 0)", b"Received: by vm (Postfix, from userid 102)\n"
        b"\tid 236FD172068; Sat,  5 Dec 2026 08:47:03 +0000 (UTC)\nReceived: by vm (Postfix, from userid 999)")
    printed = _postcat.split(output, ["767F0160023", "52C091601EB"])["767F0160023"]
    assert _postcat.queue_file(printed, headers=True, owner_uid=102)["local_uid"] == 999
    assert _postcat.queue_file(printed, headers=True)["local_uid"] == 102      # without the owner: the first one
    forged_first = raw("postcat-q_two_ids.stdout").replace(b"Received: by vm (Postfix, from userid 0)",
                                                           b"Received: by vm (Postfix, from userid 102)\n"
                                                           b"X-Spoof: yes\nReceived: by x (Postfix, from userid 33)")
    printed = _postcat.split(forged_first, ["767F0160023", "52C091601EB"])["767F0160023"]
    assert _postcat.queue_file(printed, headers=True, owner_uid=102)["local_uid"] is None
