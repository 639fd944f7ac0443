# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""What ``postcat -q`` prints, parsed: split per message by postcat's own markers, and read as a queue file - its
named attributes, how it came in, its headers, its body. PURE, stdlib only.

postcat prints each message between four markers, in this order::

    *** ENVELOPE RECORDS hold/02EF61722E4 ***      envelope records (sender, recipients, named attributes)
    *** MESSAGE CONTENTS hold/02EF61722E4 ***      the message as queued: headers, then the body
    *** HEADER EXTRACTED hold/02EF61722E4 ***      envelope records cleanup extracted from the headers
    *** MESSAGE FILE END hold/02EF61722E4 ***

``-e`` prints no content (postcat seeks past it), ``-eh`` the headers only (it stops at the first body line), no
flag the whole message. The trust rules, which decide what a spammer can and cannot make us believe:

- a named attribute (``named_attribute: sasl_username=...``) counts only from the envelope records - the
  sections before MESSAGE CONTENTS and after HEADER EXTRACTED. A header line written to look like one is content,
  and content never gives an attribute;
- a marker counts only when it is the next marker of the message being printed, the whole line naming that
  message's queue path and ID: a body line that looks like a marker is part of the body (and in ``-e``/``-eh``
  output there is no body to hold one). Only a body line naming the message's own next marker with its own queue
  path and ID could end it early; the queue ID is given when the message is queued, so its sender cannot know it to
  write it (the queue file's size record cannot tell instead: Postfix does not count a milter's added headers in it);
- ``sasl_sender`` (the client's ``AUTH=`` parameter, which needs no authentication) is kept as an attribute but
  never taken for a login: only ``sasl_username`` is;
- the submitting uid of local mail is read only from the first ``Received:`` header, which Postfix's pickup
  writes, and only for mail with no client (a forged one further down, or in network mail, never counts).

Anything the splitter cannot place raises PostcatError: nothing is guessed.
"""

from __future__ import absolute_import, division, print_function

import re
from typing import Any, Dict, Iterable, List, Optional, Tuple
from email.header import decode_header, make_header

from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError

# *** ENVELOPE RECORDS deferred/7/767F0160023 *** (the queue path ends in the ID), where a message starts
_ENVELOPE_RE = re.compile(rb"\*\*\* ENVELOPE RECORDS ([A-Za-z]+(?:/[0-9A-Za-z]+)*/([0-9A-Za-z]+)) \*\*\*(?:\n|\Z)")
# The markers that follow it, in order, each naming the same queue path.
_NEXT_MARKERS = (b"MESSAGE CONTENTS", b"HEADER EXTRACTED", b"MESSAGE FILE END")
_MISSING_RE = re.compile(r"postcat: fatal: open queue file ([0-9A-Za-z]+): No such file or directory")
_RECIPIENT_RE = re.compile(r"^recipient: (.*)$", re.MULTILINE)
# pickup's header on locally submitted mail: "Received: by host.example (Postfix, from userid 33)"
_PICKUP_RECEIVED_RE = re.compile(r"\Aby \S+ \(Postfix, from userid ([0-9]+)\)")
# A header field: its name, and its value with the folded lines that continue it (a line that is not a field, and
# the lines folded under it, belong to none).
_HEADER_FIELD_RE = re.compile(r"^([!-9;-~]+):[ \t]?([^\n]*(?:\n[ \t][^\n]*)*)", re.MULTILINE)

# The flags of each reading: the envelope records, the headers too, the whole message.
FLAGS = {"envelope": ("-e",), "headers": ("-e", "-h"), "whole": ()}


# Headers as read from a queue file: {lower-case name: [(decoded value, raw value), ...], None: [names in order]}.
Headers = Dict[Optional[str], List[Any]]
# A queue file as read (see queue_file): {"attributes", "origin", "sender", "headers", "local_uid", "body"}.
QueueFile = Dict[str, Any]


class PostcatError(MailopsError):
    """postcat output that does not split into whole messages."""


def split(output: bytes, expected_ids: Iterable[str]) -> Dict[str, Dict[str, Any]]:
    """Split ``postcat -q [-e|-eh] ID...`` output (bytes) into {queue_id: printed message}.

    A printed message is {"queue": the queue it was in, "envelope": the envelope records (text), "content": the
    content bytes as printed (nothing with -e, the headers with -eh), "extracted": the records after the content
    (text)}. Only messages printed whole (all four markers, in order, for an expected ID) are returned; anything
    else raises PostcatError. Each message starts where the last ended, with its ENVELOPE RECORDS marker; its next
    three markers are then looked for as exact lines naming its own queue path and ID, each after the one before:
    a marker-like line that is not the next marker of the message being printed is part of that message.
    """
    expected = set(expected_ids)
    messages = {}
    at, size = 0, len(output)
    while at < size:
        match = _ENVELOPE_RE.match(output, at)
        if match is None:
            line = output[at:at + 100].split(b"\n", 1)[0]
            raise PostcatError("postcat output line %d is outside any message: %r" % (_line_number(output, at), line))
        path, raw_id = match.group(1), match.group(2)
        queue_id = raw_id.decode()
        if queue_id not in expected or queue_id in messages:
            raise PostcatError("postcat printed an unexpected message %s (line %d)" % (queue_id, _line_number(output, at)))
        start, parts = match.end(), []
        for marker in _NEXT_MARKERS:
            end, after = _marker_line(output, marker, path, start)
            if end is None:
                raise PostcatError("postcat output ended inside message %s" % queue_id)
            parts.append(output[start:end])
            start = after
        envelope, content, extracted = parts[0], parts[1], parts[2]
        messages[queue_id] = {"queue": path.split(b"/", 1)[0].decode(), "envelope": envelope.decode("utf-8", "replace"),
                              "content": content, "extracted": extracted.decode("utf-8", "replace")}
        at = start
    return messages


def _marker_line(output: bytes, marker: bytes, path: bytes, start: int) -> Tuple[Optional[int], int]:
    """Where the line ``*** MARKER PATH ***`` first starts at or after START (a line start), and where the line after
    it starts; (None, 0) when there is none."""
    needle = b"\n*** " + marker + b" " + path + b" ***"
    found = output.find(needle, start - 1)
    while found >= 0:
        end = found + len(needle)
        if end == len(output) or output[end] == 10:          # the whole line: "\n" next, or the end of the output
            return found + 1, end + 1
        found = output.find(needle, found + 1)
    return None, 0


def _line_number(output: bytes, offset: int) -> int:
    return output.count(b"\n", 0, offset) + 1


def missing_id(stderr: str) -> Optional[str]:
    """The queue ID postcat stopped at (it dies at the first ID it cannot open), or None."""
    match = _MISSING_RE.search(stderr)
    return match.group(1) if match else None


def envelope_of(envelope: str) -> Tuple[Optional[str], List[str]]:
    """(sender, [recipients]) from postcat's envelope records (the text of the section)."""
    return envelope_sender(envelope), _RECIPIENT_RE.findall(envelope)


def envelope_sender(envelope: str) -> Optional[str]:
    """The envelope sender from postcat's envelope records: the last ``sender:`` record ('' for the null sender),
    None when there is none. One search from the end (the hot path of an archive: once per message)."""
    at = envelope.rfind("\nsender: ")
    if at >= 0:
        start = at + len("\nsender: ")
    elif envelope.startswith("sender: "):
        start = len("sender: ")
    else:
        return None
    end = envelope.find("\n", start)
    return envelope[start:] if end < 0 else envelope[start:end]


def attributes(printed: Dict[str, Any]) -> Dict[str, str]:
    """The named attributes of a printed message, from its envelope records only (never from its content)."""
    records = _attribute_records(printed["envelope"]) + _attribute_records(printed.get("extracted") or "")
    return dict(reversed(records))           # the first record of a name counts


def _attribute_records(section: str) -> List[Tuple[str, str]]:
    """The (name, value) of each ``named_attribute: NAME=VALUE`` record of a section, in order: each at a line start
    (a record's value - a recipient, a HELO name - can hold the words, never a line break)."""
    records = []
    for chunk in ("\n" + section).split("\nnamed_attribute: ")[1:]:
        name, equals, value = chunk.split("\n", 1)[0].partition("=")
        if name and equals:
            records.append((name, value))
    return records


def origin_of(found: Dict[str, str]) -> str:
    """How a message came in: 'smtp' (a network client), 'internal' (Postfix's own bounce or notice), 'local'
    (submitted on the host with sendmail), from its named attributes."""
    if found.get("log_client_address") or found.get("client_address"):
        return "smtp"
    if found.get("log_message_origin") == "local":
        return "internal"
    return "local"


def decode_words(value: str) -> str:
    """A header value with its RFC 2047 encoded words decoded (the raw value when they do not decode)."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def headers_of(content: bytes) -> Headers:
    """{lower-case name: [(decoded value, raw value), ...]} in order, from the head of the content (bytes); the key
    None holds the names in the order they come.

    Folded lines are unfolded (the line break removed, its whitespace kept); the head ends at the first empty line
    or at the end of what was printed (``-h`` prints the headers only)."""
    found: Headers = {None: []}
    end = content.find(b"\n\n")
    head = b"" if content.startswith(b"\n") else content if end < 0 else content[:end]
    names = found[None]
    for match in _HEADER_FIELD_RE.finditer(head.decode("utf-8", "replace")):
        name = match.group(1).lower()
        raw = match.group(2).replace("\n", "").strip()
        found.setdefault(name, []).append((decode_words(raw), raw))
        names.append(name)
    return found


def body_of(content: bytes, limit: int) -> bytes:
    """The first LIMIT bytes of the body (after the first empty line); only those are copied."""
    if content.startswith(b"\n"):
        start = 1
    else:
        end = content.find(b"\n\n")
        if end < 0:
            return b""
        start = end + 2
    return content[start:start + limit]


def local_uid(found_headers: Headers, origin: str, owner_uid: Optional[int] = None) -> Optional[int]:
    """The uid pickup recorded when locally submitted mail came in, or None.

    pickup puts ``Received: by HOST (Postfix, from userid N)`` first; a requeue (postsuper -r) goes through pickup
    again and puts another first, with the uid of Postfix's mail owner (``owner_uid``): those are skipped. Only the
    Received headers at the very top are read, and the first other one must be pickup's, or there is no uid: a forged
    one lower down, or in network mail, never counts."""
    if origin != "local":
        return None
    leading = 0
    for name in found_headers.get(None) or ():
        if name != "received":
            break
        leading += 1
    for _decoded, raw in (found_headers.get("received") or [])[:leading]:
        match = _PICKUP_RECEIVED_RE.match(raw)
        if not match:
            return None
        uid = int(match.group(1))
        if owner_uid is None or uid != owner_uid:
            return uid
    return None


def queue_file(printed: Dict[str, Any], headers: bool = False, body_limit: Optional[int] = None,
               owner_uid: Optional[int] = None) -> QueueFile:
    """A printed message read as a queue file: {"attributes", "origin", "sender", "headers", "local_uid", "body"}.

    ``headers`` (output of -eh or whole): read the headers; ``body_limit`` (whole output): read that much of the
    body; ``owner_uid``: Postfix's mail owner (see local_uid). What was not read is None (headers: an empty dict)."""
    found = attributes(printed)
    origin = origin_of(found)
    sender = envelope_sender(printed["envelope"])
    result: QueueFile = {"attributes": found, "origin": origin, "sender": sender, "headers": {}, "local_uid": None, "body": None}
    if headers or body_limit is not None:
        result["headers"] = headers_of(printed["content"])
        result["local_uid"] = local_uid(result["headers"], origin, owner_uid)
    if body_limit is not None:
        result["body"] = body_of(printed["content"], body_limit)
    return result
