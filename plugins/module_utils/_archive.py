# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""Archives of queued messages: postcat output split per message (pure), and the archive files.

An archive is a directory ``archive_dir/<instance>/<UTC timestamp>/`` holding one
``batch-NNNNN.mbox`` per postcat batch - an mboxrd file that mail tools read
(``mutt -f``, ``grep``, ``formail``): each message's content, headers and body, as
it would be re-injected, after a ``From <envelope sender> <time>`` line, lines
beginning with ``>*From `` quoted with one more ``>`` - and ``manifest.json``: each
message's envelope (queue_id, queue_name, sender, envelope_sender, recipients,
arrival_time, message_size), where its content is (file, offset, length of the
quoted bytes) and the content's size and sha256. Each batch file is fsynced,
then the directory; the manifest is written last: an archive without one is
incomplete. Archives of format 1 (one ``<queue_id>.eml`` per message) stay
readable. This module writes files but runs no process.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import re
import time


from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._queue import addresses

MANIFEST = "manifest.json"
ENTRIES = "manifest.entries.part"
REINJECTED = "reinjected.json"
FORMAT_VERSION = 2
_FROM_RE = re.compile(rb"^(>*From )", re.MULTILINE)
_QUOTED_FROM_RE = re.compile(rb"^>(>*From )", re.MULTILINE)

# postcat -q markers: *** ENVELOPE RECORDS deferred/7/767F0160023 *** (the queue path ends in the ID)
_MARKER_RE = re.compile(rb"^\*\*\* (ENVELOPE RECORDS|MESSAGE CONTENTS|HEADER EXTRACTED|MESSAGE FILE END) "
                        rb"([A-Za-z]+(?:/[0-9A-Za-z]+)*)/([0-9A-Za-z]+) \*\*\*$", re.MULTILINE)
_SENDER_RE = re.compile(r"^sender: (.*)$", re.MULTILINE)
_RECIPIENT_RE = re.compile(r"^recipient: (.*)$", re.MULTILINE)
_MISSING_RE = re.compile(r"postcat: fatal: open queue file ([0-9A-Za-z]+): No such file or directory")


class ArchiveError(MailopsError):
    """postcat output that does not split into whole messages, or an archive that cannot be used."""


_STEPS = ((b"ENVELOPE RECORDS", None), (b"MESSAGE CONTENTS", "envelope"), (b"HEADER EXTRACTED", "content"),
          (b"MESSAGE FILE END", "extracted"))


def split_postcat(output, expected_ids):
    """Split ``postcat -q ID...`` output (bytes) into {queue_id: {"queue": ..., "content": bytes, "envelope": str}}.

    Only messages printed whole (all four markers, in order, for an expected
    ID) are returned; anything else raises ArchiveError. The content is the
    bytes between MESSAGE CONTENTS and HEADER EXTRACTED, as Postfix printed them.
    The markers are found in the whole output at once and the parts between them
    sliced out: a marker-like line that is not the next marker of the message
    being printed is part of that message.
    """
    expected = set(expected_ids)
    messages = {}
    current, section = None, None
    outside = 0                    # where the output next is outside any message
    for match in _MARKER_RE.finditer(output):
        marker, queue_id = match.group(1), match.group(3).decode()
        if (current is not None and queue_id != current["id"]) or (marker, section) not in _STEPS:
            continue
        after = match.end() + 1    # the line after the marker's
        if marker == b"ENVELOPE RECORDS":
            _nothing_between(output, outside, match.start())
            if queue_id not in expected or queue_id in messages:
                raise ArchiveError("postcat printed an unexpected message %s (line %d)"
                                   % (queue_id, _line_number(output, match.start())))
            current = {"id": queue_id, "queue": match.group(2).decode().split("/")[0], "start": after}
            section = "envelope"
        elif marker == b"MESSAGE CONTENTS":
            current["envelope"] = output[current["start"]:match.start()].decode("utf-8", "replace")
            current["start"] = after
            section = "content"
        elif marker == b"HEADER EXTRACTED":
            current["content"] = output[current["start"]:match.start()]
            section = "extracted"
        else:
            messages[current["id"]] = {"queue": current["queue"], "envelope": current["envelope"],
                                       "content": current["content"]}
            current, section, outside = None, None, after
    if current is not None:
        raise ArchiveError("postcat output ended inside message %s" % current["id"])
    _nothing_between(output, outside, len(output))
    return messages


def _line_number(output, offset):
    return output.count(b"\n", 0, offset) + 1


def _nothing_between(output, start, end):
    """Between two messages, before the first and after the last, postcat prints nothing."""
    if start < end:
        line = output[start:end].split(b"\n", 1)[0]
        raise ArchiveError("postcat output line %d is outside any message: %r" % (_line_number(output, start), line[:100]))


def missing_id(stderr):
    """The queue ID postcat stopped at (it dies at the first ID it cannot open), or None."""
    match = _MISSING_RE.search(stderr)
    return match.group(1) if match else None


def envelope_of(envelope):
    """(sender, [recipients]) from postcat's envelope records (the text of the section)."""
    senders = _SENDER_RE.findall(envelope)
    return (senders[-1] if senders else None), _RECIPIENT_RE.findall(envelope)


def mbox_quote(content):
    """mboxrd quoting: every line beginning with ``>*From `` gets one more ``>``."""
    return _FROM_RE.sub(rb">\1", content)


def mbox_unquote(quoted):
    return _QUOTED_FROM_RE.sub(rb"\1", quoted)


def _fsync_dir(path):
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class ArchiveWriter:
    """Writes one archive directory: a batch file per postcat batch, the manifest last."""

    def __init__(self, archive_dir, instance_name, now=None):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        base = os.path.join(archive_dir, instance_name, stamp)
        path, suffix = base, 1
        while os.path.exists(path):
            suffix += 1
            path = "%s-%d" % (base, suffix)
        self.path = path
        self._entries = None     # the manifest's entries, one JSON line each, on disk until close()
        self._batch = None
        self._batches = 0
        self._stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(time.time() if now is None else now))

    def open(self):
        os.makedirs(self.path, mode=0o700)
        self._entries = open(os.path.join(self.path, ENTRIES), "w")

    def begin_batch(self):
        self._batches += 1
        name = "batch-%05d.mbox" % self._batches
        self._batch = (name, open(os.path.join(self.path, name), "wb"))

    def add(self, message, content):
        """Append one message to the current batch file; remember its envelope and place for the manifest."""
        if self._batch is None:
            self.begin_batch()
        name, handle = self._batch
        sender = message.get("envelope_sender", message["sender"]) or "MAILER-DAEMON"
        handle.write(b"From %s %s\n" % (sender.encode("utf-8", "replace").replace(b" ", b"_"), self._stamp.encode()))
        quoted = mbox_quote(content)
        offset = handle.tell()
        handle.write(quoted)
        handle.write(b"\n" if quoted.endswith(b"\n") else b"\n\n")
        self._entries.write(json.dumps({
            "queue_id": message["queue_id"],
            "queue_name": message["queue_name"],
            "sender": message["sender"],
            "envelope_sender": message.get("envelope_sender", message["sender"]),
            "recipients": addresses(message),
            "arrival_time": message["arrival_time"],
            "message_size": message["message_size"],
            "file": name,
            "offset": offset,
            "length": len(quoted),
            "content_bytes": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }, sort_keys=True) + "\n")

    def end_batch(self):
        """The batch is durable: its file and the directory entry are on disk."""
        if self._batch is None:
            return
        _name, handle = self._batch
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        self._batch = None
        _fsync_dir(self.path)

    def abandon(self):
        """Close what is open after a failure: no manifest is written, so the archive stays incomplete."""
        for handle in (self._batch[1] if self._batch else None, self._entries):
            if handle is not None and not handle.closed:
                handle.close()
        self._batch = None

    def close(self, header):
        """Write the manifest (atomically); the archive is complete once it exists.

        One JSON document - the header's fields, then ``messages``, one line per message - written from
        the entries kept on disk, so that the writer's memory does not grow with the archive.
        """
        self.end_batch()
        entries_path = self._entries.name
        self._entries.close()
        head = json.dumps(dict(header, format=FORMAT_VERSION), indent=1, sort_keys=True)
        target = os.path.join(self.path, MANIFEST)
        with open(target + ".part", "w") as handle, open(entries_path) as entries:
            handle.write(head[:head.rindex("}")].rstrip() + (",\n" if len(head) > 2 else "") + ' "messages": [')
            separator = "\n  "
            for line in entries:
                handle.write(separator + line.rstrip("\n"))
                separator = ",\n  "
            handle.write("\n ]\n}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(target + ".part", target)
        os.unlink(entries_path)
        _fsync_dir(self.path)
        return target


def _content_of(path, entry, handles):
    """One message's content from an archive of either format."""
    if "offset" not in entry:                       # format 1: a file per message
        with open(os.path.join(path, entry["file"]), "rb") as handle:
            return handle.read()
    handle = handles.get(entry["file"])
    if handle is None:
        handle = handles[entry["file"]] = open(os.path.join(path, entry["file"]), "rb")
    handle.seek(entry["offset"])
    return mbox_unquote(handle.read(entry["length"]))


def load(archive_path):
    """Read an archive: its manifest, then each message's content (checked against its sha256), one at a time.

    Returns (path, manifest, messages) where messages yields (entry, content) - a generator, so that an
    archive of any size is read with flat memory.
    """
    path = os.path.normpath(os.path.dirname(archive_path) if archive_path.endswith(MANIFEST) else archive_path)
    try:
        with open(os.path.join(path, MANIFEST)) as handle:
            manifest = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ArchiveError("cannot read the archive's manifest in %s: %s" % (path, exc))
    if manifest.get("format") not in (1, FORMAT_VERSION):
        raise ArchiveError("%s: archive format %r is not one this collection reads (1 or %d)"
                           % (path, manifest.get("format"), FORMAT_VERSION))
    return path, manifest, messages_of(path, manifest)


def messages_of(path, manifest):
    """Yield (entry, content) for each message of a loaded archive, checked against its sha256, one at a
    time; each call reads the archive again (a first pass checks, a second one sends)."""
    handles = {}
    try:
        for entry in manifest.get("messages", []):
            content = _content_of(path, entry, handles)
            if hashlib.sha256(content).hexdigest() != entry["sha256"]:
                raise ArchiveError("%s in %s does not match its checksum: refusing to use the archive"
                                   % (entry["queue_id"], path))
            yield entry, content
    finally:
        for handle in handles.values():
            handle.close()


def verify(archive_path):
    """Check every message of an archive against its checksum before anything is sent; returns how many."""
    path, manifest, messages = load(archive_path)
    count = sum(1 for _entry, _content in messages)
    return path, manifest, count


def reinjected_ids(path):
    try:
        with open(os.path.join(path, REINJECTED)) as handle:
            return set(json.load(handle))
    except (OSError, ValueError):
        return set()


def record_reinjected(path, ids):
    target = os.path.join(path, REINJECTED)
    with open(target + ".part", "w") as handle:
        json.dump(sorted(ids), handle)
    os.rename(target + ".part", target)
