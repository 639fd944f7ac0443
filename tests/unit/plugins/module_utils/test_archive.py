# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The archive files: written private (0600 files, 0700 directories, whatever the umask; never through a link),
per host and incident, read back byte for byte."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import stat
import tarfile

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _archive, _postcat
from ansible_collections.mailops.postfix.tests.unit import captures


def raw(name):
    with open(os.path.join(captures.FIXTURES, name), "rb") as handle:
        return handle.read()


MESSAGE = {"queue_id": "767F0160023", "queue_name": "deferred", "sender": "alice@example.org",
           "recipients": [{"address": "bob@example.net"}], "arrival_time": 1795959427, "message_size": 246}


def test_writer_and_loader_round_trip(tmp_path):
    """Batches of real postcat contents into mbox files, read back byte for byte, lines that start with From too."""
    contents = dict((queue_id, message["content"]) for queue_id, message in _postcat.split(
        raw("postcat-q_two_ids.stdout"), ["767F0160023", "52C091601EB"]).items())
    contents["0000000FROM"] = b"Subject: quoting\n\nFrom here on\n>From there\n>>From anywhere\nno newline at the end"
    writer = _archive.ArchiveWriter(str(tmp_path), "postfix", now=1795960200, incident_id="ticket-4711", host="mx1")
    writer.open()
    for number, queue_id in enumerate(sorted(contents)):
        if number % 2 == 0:
            writer.begin_batch()
        writer.add(dict(MESSAGE, queue_id=queue_id), contents[queue_id])
        if number % 2 == 1:
            writer.end_batch()
    manifest_path = writer.close({"action": "delete"})
    assert writer.path == str(tmp_path / "mx1" / "postfix" / "20261129T135000Z-ticket-4711")
    assert sorted(os.listdir(writer.path)) == ["batch-00001.mbox", "batch-00002.mbox", "manifest.json"]
    with open(manifest_path) as handle:
        manifest = json.load(handle)
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
    second = _archive.ArchiveWriter(str(tmp_path), "postfix", now=1795960200, incident_id="ticket-4711", host="mx1")
    second.open()
    assert second.path.endswith("-ticket-4711-2")         # never overwrites an archive
    second.abandon()
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
    with open(writer.close({})) as handle:
        manifest = json.load(handle)
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


def modes(root):
    """{path relative to ROOT: mode} of every directory and file under ROOT."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_every_file_is_0600_and_every_directory_0700_whatever_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        writer = _archive.ArchiveWriter(str(tmp_path / "backups" / "mailops"), "postfix", now=1795960200,
                                        incident_id="plan-0123", host="mx1")
        writer.open()
        writer.begin_batch()
        writer.add(dict(MESSAGE), b"Subject: x\n\nbody\n")
        writer.close({"action": "delete"})
        packed = writer.pack()
        _archive.record_reinjected(writer.path, {"767F0160023"})
    finally:
        os.umask(old)
    found = modes(str(tmp_path / "backups"))
    assert found == {
        "mailops": 0o700, "mailops/mx1": 0o700, "mailops/mx1/postfix": 0o700,
        "mailops/mx1/postfix/20261129T135000Z-plan-0123": 0o700,
        "mailops/mx1/postfix/20261129T135000Z-plan-0123.tar.gz": 0o600,
        "mailops/mx1/postfix/20261129T135000Z-plan-0123/batch-00001.mbox": 0o600,
        "mailops/mx1/postfix/20261129T135000Z-plan-0123/manifest.json": 0o600,
        "mailops/mx1/postfix/20261129T135000Z-plan-0123/reinjected.json": 0o600,
    }, found
    with tarfile.open(packed) as tar:
        members = dict((member.name, stat.S_IMODE(member.mode)) for member in tar.getmembers())
    assert members == {"20261129T135000Z-plan-0123": 0o700, "20261129T135000Z-plan-0123/batch-00001.mbox": 0o600,
                       "20261129T135000Z-plan-0123/manifest.json": 0o600}


def test_an_existing_archive_dir_is_left_as_the_operator_made_it(tmp_path):
    """archive_dir itself may be a shared mount or a link to one: it is used as it is; what the writer adds is private."""
    shared = tmp_path / "nfs"
    shared.mkdir(mode=0o755)
    os.chmod(str(shared), 0o755)
    link = tmp_path / "backups"
    link.symlink_to(shared)
    writer = _archive.ArchiveWriter(str(link), "postfix", now=1795960200, host="mx1")
    writer.open()
    writer.close({})
    assert stat.S_IMODE(os.stat(str(shared)).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(str(shared / "mx1")).st_mode) == 0o700


def test_a_link_planted_where_the_writer_writes_is_refused(tmp_path):
    """Someone who could write to the backup directory makes the host's directory a link elsewhere: refused."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / "mx1").symlink_to(elsewhere)
    writer = _archive.ArchiveWriter(str(tmp_path / "backups"), "postfix", now=1795960200, host="mx1")
    with pytest.raises(_archive.ArchiveError, match="is not a directory"):
        writer.open()
    assert os.listdir(str(elsewhere)) == []


def test_two_hosts_sharing_one_backup_directory_never_collide(tmp_path):
    """The same second, the same instance name, one shared directory: each host writes its own archive."""
    paths = []
    for host in ("mx1", "mx2"):
        writer = _archive.ArchiveWriter(str(tmp_path), "postfix", now=1795960200, incident_id="run-1", host=host)
        writer.open()
        writer.begin_batch()
        writer.add(dict(MESSAGE), host.encode())
        writer.close({"host": host})
        paths.append(writer.path)
    assert paths == [str(tmp_path / "mx1" / "postfix" / "20261129T135000Z-run-1"),
                     str(tmp_path / "mx2" / "postfix" / "20261129T135000Z-run-1")]
    assert [list(_archive.load(path)[2])[0][1] for path in paths] == [b"mx1", b"mx2"]


def test_an_existing_file_is_never_opened(tmp_path):
    target = tmp_path / "file"
    target.write_text("someone else's")
    with pytest.raises(OSError):
        _archive.create_private(str(target))
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OSError):
        _archive.create_private(str(link))
    assert not (tmp_path / "nowhere").exists() and target.read_text() == "someone else's"


def test_an_interrupted_purge_withdraws_what_it_never_deleted(tmp_path):
    """The messages a killed purge archived but never deleted leave its manifest (the run that purges them later
    archives them again: one archive owns each purged message); the packed copy follows; the rest still loads."""
    contents = dict((queue_id, message["content"]) for queue_id, message in _postcat.split(
        raw("postcat-q_two_ids.stdout"), ["767F0160023", "52C091601EB"]).items())
    writer = _archive.ArchiveWriter(str(tmp_path), "postfix", now=1795960200, incident_id="ticket-4711", host="mx1")
    writer.open()
    writer.begin_batch()
    for queue_id in sorted(contents):
        writer.add(dict(MESSAGE, queue_id=queue_id), contents[queue_id])
    writer.close({"action": "delete"})
    packed = writer.pack()
    assert _archive.withdraw(writer.path, ["52C091601EB", "NOTARCHIVED"], "not deleted") == 1
    path, manifest, messages = _archive.load(writer.path)
    assert [entry["queue_id"] for entry, _content in messages] == ["767F0160023"]
    assert [(entry["queue_id"], entry["reason"]) for entry in manifest["withdrawn"]] == [("52C091601EB", "not deleted")]
    assert stat.S_IMODE(os.stat(os.path.join(path, "manifest.json")).st_mode) == 0o600
    with tarfile.open(packed) as tar:
        inside = json.load(tar.extractfile(os.path.basename(path) + "/manifest.json"))
    assert [entry["queue_id"] for entry in inside["messages"]] == ["767F0160023"]
    assert stat.S_IMODE(os.stat(packed).st_mode) == 0o600
    assert _archive.withdraw(writer.path, ["52C091601EB"], "again") == 0      # nothing left to withdraw
    assert _archive.withdraw(str(tmp_path / "missing"), ["767F0160023"], "x") == 0
