# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""Archives of queued messages: the archive files, written and read.

An archive is a directory ``archive_dir/<host>/<instance>/<UTC timestamp>[-<incident>]/`` holding one
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

Archives hold other people's mail. Whatever the umask, every file is created 0600 and every directory below
``archive_dir`` 0700, owned by the writer; a file is only ever created new (never opened if it exists, never
through a symbolic link) in a directory the writer has just made itself, and the directories it reuses (the
host's and the instance's) are checked - a real directory, the writer's own - through a descriptor opened
without following links. The host's name and the incident's ID in the path keep hosts that share one backup
directory (NFS) from ever writing to the same place.
"""

from __future__ import absolute_import, division, print_function

import errno
import hashlib
import json
import os
import re
import socket
import tarfile
import tempfile
import time
from typing import Any, BinaryIO, Dict, Iterable, Iterator, Optional, Set, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._queue import addresses
from ansible_collections.mailops.postfix.plugins.module_utils._values import is_incident_id

MANIFEST = "manifest.json"
ENTRIES = "manifest.entries.part"
REINJECTED = "reinjected.json"
FORMAT_VERSION = 2
_FROM_RE = re.compile(rb"^(>*From )", re.MULTILINE)
_QUOTED_FROM_RE = re.compile(rb"^>(>*From )", re.MULTILINE)
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]")
PACKED_SUFFIX = ".tar.gz"
# One encoder for every manifest entry (json.dumps with options makes a new one per call: once per message).
_ENTRY_JSON = json.JSONEncoder(sort_keys=True)


class ArchiveError(MailopsError):
    """An archive that cannot be written where asked, or read and used."""


def create_private(path: str) -> int:
    """A new file at PATH, mode 0600, opened for writing - never an existing file, never through a link."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    os.fchmod(descriptor, 0o600)     # whatever the umask
    return descriptor


def _own_directory(path: str) -> None:
    """Make PATH (mode 0700) if it does not exist; refuse it unless it is a real directory of this process's user.

    Checked through a descriptor opened without following links, so nothing can be swapped in between the check
    and the mode set on it."""
    try:
        os.mkdir(path, 0o700)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ArchiveError("%s is not a directory (a symbolic link?): refusing to write archives through it" % path)
        raise
    try:
        info = os.fstat(descriptor)
        if info.st_uid != os.geteuid():
            raise ArchiveError("%s belongs to uid %d, not to the user writing the archive (uid %d): refusing to write "
                               "other people's mail there" % (path, info.st_uid, os.geteuid()))
        os.fchmod(descriptor, 0o700)
    finally:
        os.close(descriptor)


def archive_root(archive_dir: str) -> str:
    """ARCHIVE_DIR itself, made if missing (each missing directory 0700); an existing one is the operator's choice
    (a mount point, a link to a backup volume) and is left as it is."""
    missing = []
    path = os.path.abspath(archive_dir)
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for path in reversed(missing):
        _own_directory(path)
    return archive_dir


def mbox_quote(content: bytes) -> bytes:
    """mboxrd quoting: every line beginning with ``>*From `` gets one more ``>``."""
    return _FROM_RE.sub(rb">\1", content)


def mbox_unquote(quoted: bytes) -> bytes:
    return _QUOTED_FROM_RE.sub(rb"\1", quoted)


def _fsync_dir(path: str) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class ArchiveWriter:
    """Writes one archive directory: a batch file per postcat batch, the manifest last."""

    def __init__(self, archive_dir: str, instance_name: str, now: Optional[float] = None,
                 incident_id: Optional[str] = None, host: Optional[str] = None) -> None:
        moment = time.time() if now is None else now
        self.host = _NAME_RE.sub("_", host or socket.gethostname() or "localhost")
        self.incident_id = incident_id if is_incident_id(incident_id) else None
        self.parent = os.path.join(archive_dir, self.host, _NAME_RE.sub("_", instance_name))
        self._archive_dir = archive_dir
        self._name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(moment)) + ("-" + self.incident_id if self.incident_id else "")
        self.path = os.path.join(self.parent, self._name)
        self._entries: Any = None     # the manifest's entries, one JSON line each, on disk until close()
        self._batch: Any = None       # (file name, open file) of the current batch
        self._batches = 0
        self._stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(moment))

    def open(self) -> None:
        """Make the archive's directory: a new one (mode 0700) below the host's and the instance's (checked, 0700)."""
        archive_root(self._archive_dir)
        _own_directory(os.path.dirname(self.parent))
        _own_directory(self.parent)
        suffix = 1
        while True:
            try:
                os.mkdir(self.path, 0o700)
                break
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
                suffix += 1
                self.path = os.path.join(self.parent, "%s-%d" % (self._name, suffix))
        _own_directory(self.path)
        self._entries_path = os.path.join(self.path, ENTRIES)
        self._entries = os.fdopen(create_private(self._entries_path), "w")

    def begin_batch(self) -> None:
        self._batches += 1
        name = "batch-%05d.mbox" % self._batches
        self._batch = (name, os.fdopen(create_private(os.path.join(self.path, name)), "wb"))

    def add(self, message: Dict[str, Any], content: bytes) -> None:
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
        self._entries.write(_ENTRY_JSON.encode({
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
        }) + "\n")

    def end_batch(self) -> None:
        """The batch is durable: its file and the directory entry are on disk."""
        if self._batch is None:
            return
        _name, handle = self._batch
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        self._batch = None
        _fsync_dir(self.path)

    def abandon(self) -> None:
        """Close what is open after a failure: no manifest is written, so the archive stays incomplete."""
        for handle in (self._batch[1] if self._batch else None, self._entries):
            if handle is not None and not handle.closed:
                handle.close()
        self._batch = None

    def close(self, header: Dict[str, Any]) -> str:
        """Write the manifest (atomically); the archive is complete once it exists.

        One JSON document - the header's fields, then ``messages``, one line per message - written from
        the entries kept on disk, so that the writer's memory does not grow with the archive.
        """
        self.end_batch()
        entries_path = self._entries_path
        self._entries.close()
        head = json.dumps(dict(header, format=FORMAT_VERSION), indent=1, sort_keys=True)
        target = os.path.join(self.path, MANIFEST)
        with os.fdopen(create_private(target + ".part"), "w") as handle, open(entries_path) as entries:
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

    def pack(self) -> str:
        """The finished archive as one ``<archive>.tar.gz`` beside it (mode 0600, a new file), to copy off the host."""
        return pack(self.path)


def pack(path: str) -> str:
    """Pack the archive directory PATH into PATH.tar.gz (mode 0600, created new; the members keep their modes)."""
    target = path.rstrip("/") + PACKED_SUFFIX
    with os.fdopen(create_private(target), "wb") as handle:
        with tarfile.open(fileobj=handle, mode="w:gz") as tar:
            tar.add(path, arcname=os.path.basename(path.rstrip("/")))
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(os.path.dirname(target))
    return target


def withdraw(path: str, ids: Iterable[str], reason: str) -> int:
    """Take the messages IDS out of the archive at PATH's manifest: an interrupted purge archived them but never
    deleted them, and the run that purges them later archives them again - one archive must own each purged
    message, or re-injecting both would deliver it twice. Their entries move to ``withdrawn`` (with REASON); the
    bytes stay in the batch files, unreferenced. The manifest is rewritten atomically; a packed copy
    (``PATH.tar.gz``) is packed again. Returns how many entries were withdrawn (0: nothing to do, or no archive)."""
    target = os.path.join(path, MANIFEST)
    try:
        with open(target) as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        return 0
    ids = set(ids)
    kept = [entry for entry in manifest.get("messages", []) if entry["queue_id"] not in ids]
    taken = [entry for entry in manifest.get("messages", []) if entry["queue_id"] in ids]
    if not taken:
        return 0
    manifest["messages"] = kept
    manifest["withdrawn"] = manifest.get("withdrawn", []) + [
        {"queue_id": entry["queue_id"], "sha256": entry["sha256"], "reason": reason} for entry in taken]
    temporary = target + ".withdraw"
    if os.path.lexists(temporary):
        os.unlink(temporary)
    with os.fdopen(create_private(temporary), "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(temporary, target)
    _fsync_dir(path)
    packed = path.rstrip("/") + PACKED_SUFFIX
    if os.path.lexists(packed):
        os.unlink(packed)
        pack(path)
    return len(taken)


def _content_of(path: str, entry: Dict[str, Any], handles: Dict[str, BinaryIO]) -> bytes:
    """One message's content from an archive of either format."""
    if "offset" not in entry:                       # format 1: a file per message
        with open(os.path.join(path, entry["file"]), "rb") as handle:
            return handle.read()
    handle = handles.get(entry["file"])
    if handle is None:
        handle = handles[entry["file"]] = open(os.path.join(path, entry["file"]), "rb")
    handle.seek(entry["offset"])
    return mbox_unquote(handle.read(entry["length"]))


def load(archive_path: str) -> Tuple[str, Dict[str, Any], Iterator[Tuple[Dict[str, Any], bytes]]]:
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


def messages_of(path: str, manifest: Dict[str, Any]) -> Iterator[Tuple[Dict[str, Any], bytes]]:
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


def verify(archive_path: str) -> Tuple[str, Dict[str, Any], int]:
    """Check every message of an archive against its checksum before anything is sent; returns how many."""
    path, manifest, messages = load(archive_path)
    count = sum(1 for _entry, _content in messages)
    return path, manifest, count


def reinjected_ids(path: str) -> Set[str]:
    try:
        with open(os.path.join(path, REINJECTED)) as handle:
            return set(json.load(handle))
    except (OSError, ValueError):
        return set()


def record_reinjected(path: str, ids: Iterable[str]) -> None:
    handle, temporary = tempfile.mkstemp(prefix=".reinjected-", dir=path)    # a new file, mode 0600
    with os.fdopen(handle, "w") as out:
        json.dump(sorted(ids), out)
    os.rename(temporary, os.path.join(path, REINJECTED))
