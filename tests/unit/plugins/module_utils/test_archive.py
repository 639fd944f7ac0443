# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Splitting real postcat output per message, and the archive files."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _archive
from ansible_collections.mailops.postfix.tests.unit import captures


def raw(name):
    with open(os.path.join(captures.FIXTURES, name), "rb") as handle:
        return handle.read()


def test_two_messages_in_one_postcat_run():
    messages = _archive.split_postcat(raw("postcat-q_two_ids.stdout"), ["767F0160023", "52C091601EB"])
    assert sorted(messages) == ["52C091601EB", "767F0160023"]
    first = messages["767F0160023"]
    assert first["queue"] == "deferred"
    assert first["content"].startswith(b"Received: by vm (Postfix, from userid 0)\n")
    assert first["content"].endswith(b"\n\nhello\n")
    assert _archive.envelope_of(first["envelope"]) == ("alice@example.org", ["bob@example.net"])
    second = messages["52C091601EB"]
    assert second["queue"] == "hold"
    assert _archive.envelope_of(second["envelope"]) == ("held-sender@example.org", ["h1@example.net", "h2@example.com"])
    assert b"*** " not in first["content"] + second["content"]


def test_single_message_equals_its_own_capture():
    alone = _archive.split_postcat(raw("postcat-q_deferred_multi.stdout"), ["32D2F160014"])["32D2F160014"]
    body_only = raw("postcat-bq_deferred_multi.stdout")
    assert alone["content"].endswith(body_only)          # postcat -b printed the same body


def test_maildrop_and_utf8():
    drop = _archive.split_postcat(raw("postcat-q_maildrop.stdout"), ["8D9F3160044"])["8D9F3160044"]
    assert drop["queue"] == "maildrop" and drop["content"] == b"Subject: in maildrop 1\n\nbody\n"
    utf8 = _archive.split_postcat(raw("postcat-q_utf8.stdout"), ["106AB1600C3"])["106AB1600C3"]
    assert u"\u2603".encode("utf-8") in utf8["content"]
    sender, recipients = _archive.envelope_of(utf8["envelope"])
    assert sender == u"jos\u00e9@ex\u00e4mple.org" and len(recipients) == 3


def test_null_sender_envelope_is_empty():
    bounce = _archive.split_postcat(raw("postcat-q_bounce_nullsender.stdout"), ["623E4160083"])["623E4160083"]
    assert _archive.envelope_of(bounce["envelope"])[0] == ""


def test_first_missing_id_is_fatal_and_named():
    out, err = raw("postcat-q_one_good_one_bad.stdout"), captures.read("postcat-q_one_good_one_bad.stderr")
    printed = _archive.split_postcat(out, ["767F0160023", "0000000DEAD"])
    assert list(printed) == ["767F0160023"]
    assert _archive.missing_id(err) == "0000000DEAD"
    assert _archive.split_postcat(raw("postcat-q_bad_then_good.stdout"), ["0000000DEAD", "767F0160023"]) == {}
    assert _archive.missing_id(captures.read("postcat-q_malformed.stderr")) is None


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
    with pytest.raises(_archive.ArchiveError):
        _archive.split_postcat(mutate(raw("postcat-q_two_ids.stdout")), ["767F0160023", "52C091601EB"])


def test_a_marker_line_in_a_message_is_content():
    """A message whose body quotes postcat's markers (one forwarded from a postmaster, say) is cut where
    Postfix's own markers are, not where its text looks like one."""
    original = raw("postcat-q_two_ids.stdout")
    quoted = b"*** MESSAGE FILE END deferred/7/52C091601EB ***\n*** ENVELOPE RECORDS deferred/1/0000000BEEF ***\n"
    marker = b"*** HEADER EXTRACTED deferred/7/767F0160023 ***\n"
    printed = _archive.split_postcat(original.replace(marker, quoted + marker), ["767F0160023", "52C091601EB"])
    before = _archive.split_postcat(original, ["767F0160023", "52C091601EB"])
    assert printed["767F0160023"]["content"] == before["767F0160023"]["content"] + quoted
    assert printed["52C091601EB"] == before["52C091601EB"]


def test_unexpected_message_is_refused():
    with pytest.raises(_archive.ArchiveError):
        _archive.split_postcat(raw("postcat-q_two_ids.stdout"), ["767F0160023"])


MESSAGE = {"queue_id": "767F0160023", "queue_name": "deferred", "sender": "alice@example.org",
           "recipients": [{"address": "bob@example.net"}], "arrival_time": 1795959427, "message_size": 246}


def test_writer_and_loader_round_trip(tmp_path):
    """Batches of real postcat contents into mbox files, read back byte for byte, lines that start with From too."""
    contents = dict((queue_id, message["content"]) for queue_id, message in _archive.split_postcat(
        raw("postcat-q_two_ids.stdout"), ["767F0160023", "52C091601EB"]).items())
    contents["0000000FROM"] = b"Subject: quoting\n\nFrom here on\n>From there\n>>From anywhere\nno newline at the end"
    writer = _archive.ArchiveWriter(str(tmp_path), "postfix", now=1795960200)
    writer.open()
    for number, queue_id in enumerate(sorted(contents)):
        if number % 2 == 0:
            writer.begin_batch()
        writer.add(dict(MESSAGE, queue_id=queue_id), contents[queue_id])
        if number % 2 == 1:
            writer.end_batch()
    manifest_path = writer.close({"action": "delete"})
    assert writer.path.endswith("postfix/20261129T135000Z")
    assert oct(os.stat(writer.path).st_mode & 0o777) == "0o700"
    assert sorted(os.listdir(writer.path)) == ["batch-00001.mbox", "batch-00002.mbox", "manifest.json"]
    manifest = json.load(open(manifest_path))
    assert manifest["format"] == 2 and len(manifest["messages"]) == 3
    assert manifest["messages"][0]["recipients"] == ["bob@example.net"]
    with open(manifest_path) as handle:      # one line per message: grep finds a message's whole entry
        lines = [line for line in handle if '"queue_id"' in line]
    assert [json.loads(line.strip().rstrip(","))["queue_id"] for line in lines] == sorted(contents)
    path, loaded, messages = _archive.load(manifest_path)
    assert path == writer.path and loaded["action"] == "delete"
    assert dict((entry["queue_id"], content) for entry, content in messages) == contents
    # an mbox that mail tools read: every message after its From line, the content's From lines quoted
    with open(os.path.join(writer.path, "batch-00001.mbox"), "rb") as handle:
        mbox = handle.read()
    assert mbox.startswith(b"From alice@example.org Sun Nov 29 13:50:00 2026\n")
    assert b"\n>From here on\n>>From there\n>>>From anywhere\n" in mbox
    second = _archive.ArchiveWriter(str(tmp_path), "postfix", now=1795960200)
    assert second.path.endswith("-2")                    # never overwrites an archive
    with open(os.path.join(writer.path, "batch-00002.mbox"), "r+b") as handle:
        handle.seek(60)
        handle.write(b"X")
    with pytest.raises(_archive.ArchiveError) as error:
        _archive.verify(writer.path)
    assert "does not match its checksum" in str(error.value)


def test_an_archive_of_format_1_stays_readable(tmp_path):
    """The archives an earlier release wrote: one <queue_id>.eml per message."""
    content = b"Subject: x\n\nbody\n"
    (tmp_path / "767F0160023.eml").write_bytes(content)
    entry = {"queue_id": "767F0160023", "sender": "alice@example.org", "envelope_sender": "alice@example.org",
             "recipients": ["bob@example.net"], "file": "767F0160023.eml", "content_bytes": len(content),
             "sha256": hashlib.sha256(content).hexdigest()}
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1, "messages": [entry]}))
    _path, manifest, messages = _archive.load(str(tmp_path))
    assert manifest["format"] == 1 and list(messages) == [(entry, content)]
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 7, "messages": []}))
    with pytest.raises(_archive.ArchiveError, match="archive format 7"):
        _archive.load(str(tmp_path))


def test_reinjected_record(tmp_path):
    assert _archive.reinjected_ids(str(tmp_path)) == set()
    _archive.record_reinjected(str(tmp_path), {"B", "A"})
    assert _archive.reinjected_ids(str(tmp_path)) == {"A", "B"}


def test_an_empty_archive_has_a_manifest_too(tmp_path):
    """No message archived (every one gone since the listing): still one well-formed manifest, nothing else."""
    writer = _archive.ArchiveWriter(str(tmp_path), "postfix", now=1795960200)
    writer.open()
    manifest = json.load(open(writer.close({})))
    assert manifest == {"format": _archive.FORMAT_VERSION, "messages": []}
    assert os.listdir(writer.path) == ["manifest.json"]


def test_an_abandoned_archive_closes_its_files_and_has_no_manifest(tmp_path):
    """A failure mid-batch: the writer's open files are closed, no manifest is written (the archive is not complete)."""
    writer = _archive.ArchiveWriter(str(tmp_path), "postfix", now=1795960200)
    writer.open()
    writer.begin_batch()
    writer.add(dict(MESSAGE, queue_id="767F0160023"), b"Subject: x\n\nbody\n")
    handles = [writer._batch[1], writer._entries]
    assert not any(handle.closed for handle in handles)
    writer.abandon()
    assert all(handle.closed for handle in handles)
    writer.abandon()                                     # twice: nothing left to close, no error
    assert _archive.MANIFEST not in os.listdir(writer.path)
    with pytest.raises(_archive.ArchiveError):
        _archive.verify(writer.path)
