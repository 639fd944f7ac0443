# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The selection: one table of options drives the Selector, the modules' argument spec and the docs. PURE.

Each row of OPTIONS is one selection option: its argument spec, its documentation, the *tier* it is
evaluated in, and how its value becomes a test. The tiers are ordered by cost, and a message reaches a
tier only when every cheaper one matched:

- ``envelope``: what ``postqueue -j`` lists (sender, recipients, queue, age, size, delay reasons);
- ``origin``: the queue file's envelope records (``postcat -q -e``): the SASL login, the client, HELO,
  how the message came in;
- ``headers``: the message headers too (``postcat -q -eh``; the body is never read);
- ``body``: the body, only when a body option is given, and only its first ``body_max_bytes``.

Adding an option is one row here (with its docs); ``_argspec`` and ``doc_fragments/postfix.py`` read the
table. Every given option must match (AND); lists match when any element does.
"""

from __future__ import absolute_import, division, print_function

import ipaddress
import re
import time
from typing import Any, Callable, Dict, FrozenSet, Iterable, Iterator, List, Optional, Pattern, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils import _regex, _values
from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._queue import (
    QUEUE_NAMES, UNMARKED_QUEUES, domain_of, is_queue_id)

ENVELOPE, ORIGIN, HEADERS, BODY = "envelope", "origin", "headers", "body"
TIERS = (ENVELOPE, ORIGIN, HEADERS, BODY)
ORIGINS = ("smtp", "local", "internal")
# A header name: printable ASCII without spaces or ':' (RFC 5322 field name).
_HEADER_NAME_RE = re.compile(r"\A[!-9;-~]{1,76}\Z")
# A test of one thing: a listed message, one of its recipients, or a read queue file.
Test = Callable[[Dict[str, Any]], bool]
# What an option's build returns: its test (None for a modifier) and the value as normalised in ``selection``.
Built = Tuple[Optional[Test], Any]


def costliest(tiers: Iterable[Optional[str]]) -> Optional[str]:
    """The costliest of TIERS (None: the listing is enough)."""
    return max(tiers, key=lambda tier: 0 if tier is None else TIERS.index(tier))


class SelectionError(MailopsError):
    """A selection option that cannot be used (bad regex, duration, size, queue, network, header name)."""


class Option:
    """One row of the table: the option's argument spec and docs, its tier, and how its value becomes a test.

    ``build(value, name)`` returns (test, the value as normalised in ``selection``); the test takes a message
    (kind ``message``), a recipient (``recipient``) or a read queue file (``file``). Modifiers (kind
    ``modifier``) change how other options apply and have no test.
    """

    __slots__ = ("name", "spec", "doc", "tier", "kind", "build")

    def __init__(self, name: str, spec: Dict[str, Any], doc: List[str], build: Callable[..., Built],
                 tier: str = ENVELOPE, kind: str = "message") -> None:
        self.name = name
        self.spec = spec
        self.doc = doc
        self.tier = tier
        self.kind = kind
        self.build = build


# ---------------------------------------------------------------- value readers (raising SelectionError)

def _as_list(value: Any) -> List[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


def _compile(pattern: str, name: str) -> Pattern[str]:
    return _regex.compile_bounded(pattern, name, SelectionError)


def _domains(values: Iterable[Any], name: str) -> Callable[[Optional[str]], bool]:
    """Anchored, case-insensitive domain match; '.example.com' means its subdomains."""
    exact, suffixes = set(), []
    for domain in values:
        domain = str(domain).strip().lower()
        if not domain or domain == "." or "@" in domain or " " in domain:
            raise SelectionError("%s: not a domain: %r" % (name, domain))
        if domain.startswith("."):
            suffixes.append(domain)
        else:
            exact.add(domain)
    parents = tuple(suffixes)

    def match(address: Optional[str]) -> bool:
        domain = domain_of(address)
        return domain in exact or (bool(parents) and domain.endswith(parents))
    return match


def _lowered_set(values: Iterable[Any], name: str) -> FrozenSet[str]:
    items = [str(value).strip().lower() for value in values]
    if any(not item for item in items):
        raise SelectionError("%s: an empty string matches nothing" % name)
    return frozenset(items)


# ---------------------------------------------------------------- envelope options

def _queue_ids(value: Any, name: str) -> Built:
    ids = _as_list(value)
    bad = [qid for qid in ids if not is_queue_id(qid)]
    if bad:
        raise SelectionError("%s: not a Postfix queue ID (short upper-case hex or long base-52): %s"
                             % (name, ", ".join(repr(qid) for qid in bad[:10])))
    if not ids:
        raise SelectionError("%s: an empty list selects nothing; omit the option instead" % name)
    id_set = frozenset(ids)
    return (lambda m: m["queue_id"] in id_set), sorted(id_set)


def _queues(value: Any, name: str) -> Built:
    names = _as_list(value)
    unknown = [q for q in names if q not in QUEUE_NAMES]
    if unknown or not names:
        raise SelectionError("%s: expected names from %s, got %r" % (name, ", ".join(QUEUE_NAMES), names))
    name_set = frozenset(names)
    unmarked_ok = bool(name_set.intersection(UNMARKED_QUEUES))
    return (lambda m: m["queue_name"] in name_set or (m["queue_name"] is None and unmarked_ok)), sorted(name_set)


def _sender(value: Any, name: str) -> Built:
    senders = frozenset(str(s).lower() for s in _as_list(value))
    return (lambda m: (m["sender"] or "").lower() in senders), sorted(senders)


def _sender_domain(value: Any, name: str) -> Built:
    match = _domains(_as_list(value), name)
    return (lambda m: match(m["sender"])), _as_list(value)


def _sender_regex(value: Any, name: str) -> Built:
    compiled = _compile(value, name)
    return (lambda m: compiled.fullmatch(m["sender"] or "") is not None), value


def _recipient(value: Any, name: str) -> Built:
    recipients = frozenset(str(r).lower() for r in _as_list(value))
    return (lambda r: r["address"].lower() in recipients), sorted(recipients)


def _recipient_domain(value: Any, name: str) -> Built:
    match = _domains(_as_list(value), name)
    return (lambda r: match(r["address"])), _as_list(value)


def _recipient_regex(value: Any, name: str) -> Built:
    compiled = _compile(value, name)
    return (lambda r: compiled.fullmatch(r["address"]) is not None), value


def _reason_regex(value: Any, name: str) -> Built:
    compiled = _compile(value, name)
    return (lambda r: "delay_reason" in r and compiled.fullmatch(r["delay_reason"]) is not None), value


def _older_than(value: Any, name: str, now: float) -> Built:
    seconds = _values.parse_duration(value, name, SelectionError)
    cutoff = now - seconds
    return (lambda m: m["arrival_time"] is not None and m["arrival_time"] <= cutoff), seconds


def _younger_than(value: Any, name: str, now: float) -> Built:
    seconds = _values.parse_duration(value, name, SelectionError)
    cutoff = now - seconds
    return (lambda m: m["arrival_time"] is not None and m["arrival_time"] > cutoff), seconds


def _arrived_before(value: Any, name: str) -> Built:
    before = _values.parse_epoch(value, name, SelectionError)
    return (lambda m: m["arrival_time"] is not None and m["arrival_time"] < before), before


def _arrived_after(value: Any, name: str) -> Built:
    after = _values.parse_epoch(value, name, SelectionError)
    return (lambda m: m["arrival_time"] is not None and m["arrival_time"] >= after), after


def _min_size(value: Any, name: str) -> Built:
    low = _values.parse_size(value, name, SelectionError)
    return (lambda m: m["message_size"] >= low), low


def _max_size(value: Any, name: str) -> Built:
    high = _values.parse_size(value, name, SelectionError)
    return (lambda m: m["message_size"] <= high), high


# ---------------------------------------------------------------- origin and content options

def _sasl_username(value: Any, name: str) -> Built:
    logins = _lowered_set(_as_list(value), name)
    return (lambda f: (f["attributes"].get("sasl_username") or "").lower() in logins), sorted(logins)


def _networks(values: Iterable[Any], name: str) -> List[Any]:
    networks = []
    for value in values:
        text = str(value).strip()
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise SelectionError("%s: %r is not an IP address or a network (CIDR, such as 192.0.2.0/24 or "
                                 "2001:db8::/32)" % (name, value))
    return networks


def client_ip(attributes: Dict[str, str]) -> Optional[Any]:
    """The original client's address, as Postfix logs it (behind a content filter, the client before it), or None."""
    text = attributes.get("log_client_address") or attributes.get("client_address")
    if not text or text == "unknown":
        return None
    if text.lower().startswith("ipv6:"):
        text = text[5:]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _client_address(value: Any, name: str) -> Built:
    networks = _networks(_as_list(value), name)

    def match(queue_file: Dict[str, Any]) -> bool:
        address = client_ip(queue_file["attributes"])
        return address is not None and any(address.version == net.version and address in net for net in networks)
    return match, [str(net) for net in networks]


def _client_name_regex(value: Any, name: str) -> Built:
    compiled = _compile(value, name)
    return (lambda f: compiled.fullmatch(f["attributes"].get("log_client_name") or f["attributes"].get("client_name")
                                         or "") is not None), value


def _helo_regex(value: Any, name: str) -> Built:
    compiled = _compile(value, name)
    return (lambda f: compiled.fullmatch(f["attributes"].get("log_helo_name") or f["attributes"].get("helo_name")
                                         or "") is not None), value


def _origin(value: Any, name: str) -> Built:
    if value not in ORIGINS:
        raise SelectionError("%s: expected one of %s, got %r" % (name, ", ".join(ORIGINS), value))
    return (lambda f: f["origin"] == value), value


def _local_uid(value: Any, name: str) -> Built:
    uids = set()
    for uid in _as_list(value):
        if isinstance(uid, bool) or not (isinstance(uid, int) or (isinstance(uid, str) and uid.strip().isdigit())):
            raise SelectionError("%s: expected numeric user IDs, got %r" % (name, uid))
        uids.add(int(uid))
    return (lambda f: f["local_uid"] in uids), sorted(uids)


def _header_patterns(value: Any, name: str) -> Dict[str, Pattern[str]]:
    if not isinstance(value, dict) or not value:
        raise SelectionError("%s: expected a dictionary {header name: regular expression}, got %r" % (name, value))
    patterns = {}
    for header, pattern in sorted(value.items()):
        if not isinstance(header, str) or not _HEADER_NAME_RE.match(header):
            raise SelectionError("%s: %r is not a header name (printable characters without spaces or ':')"
                                 % (name, header))
        patterns[header.lower()] = _compile(pattern, "%s.%s" % (name, header))
    return patterns


def _header_test(value: Any, name: str, which: int) -> Built:
    patterns = _header_patterns(value, name)

    def match(queue_file: Dict[str, Any]) -> bool:
        headers = queue_file["headers"]
        return all(any(compiled.search(values[which]) is not None for values in headers.get(header, ()))
                   for header, compiled in patterns.items())
    return match, {header.lower(): pattern for header, pattern in sorted(value.items())}


def _header_regex(value: Any, name: str) -> Built:
    return _header_test(value, name, 0)


def _header_raw_regex(value: Any, name: str) -> Built:
    return _header_test(value, name, 1)


def _body_regex(value: Any, name: str) -> Built:
    compiled = _compile(value, name)
    return (lambda f: compiled.search(f["body"]) is not None), value


def _body_test(test: Test, limit: int) -> Test:
    """The body regex on the first LIMIT bytes of the body (the reader may have read more for another selector)."""
    return lambda f: f["body"] is not None and test(dict(f, body=f["body"][:limit].decode("utf-8", "replace")))


def _size_value(value: Any, name: str) -> Built:
    return None, _values.parse_size(value, name, SelectionError)


def _recipient_match(value: Any, name: str) -> Built:
    if value not in ("any", "all"):
        raise SelectionError("%s: expected 'any' or 'all', got %r" % (name, value))
    return None, value


_REGEX_RULE = ("A Python regular expression, case-insensitive; at most 1,000 characters, and refused when its "
               "shape can backtrack catastrophically (a quantifier over something that has one, as in C((\\w+\\s?\\)*))")


OPTIONS = (
    Option("queue_ids", dict(type="list", elements="str"), [
        "Select these queue IDs. Each must have Postfix's queue ID syntax (short upper-case hex, or long "
        "base-52); anything else is refused before any command runs.",
        "IDs are unique only within one instance, and short IDs can be reused."], _queue_ids),
    Option("queues", dict(type="list", elements="str", choices=list(QUEUE_NAMES)), [
        "Select messages in these queues.",
        "With O(source=text), an entry without a marker can be in V(deferred), V(incoming) or V(maildrop); "
        "it matches when any of those is named."], _queues),
    Option("sender", dict(type="list", elements="str"), [
        "Select messages from any of these envelope senders (whole address, case-insensitive).",
        "The null sender of bounces is listed as V(MAILER-DAEMON).",
        "A compromised login or a web script sends with forged, rotating envelope senders: select those by "
        "O(sasl_username), O(client_address), O(origin) or O(local_uid)."], _sender),
    Option("sender_domain", dict(type="list", elements="str"), [
        "Select messages whose sender's domain is one of these. The match ignores case and is anchored, so "
        "V(example.com) matches neither V(notexample.com) nor V(mx.example.com).",
        "A leading dot (V(.example.com)) matches the subdomains of a domain."], _sender_domain),
    Option("sender_regex", dict(type="str"), [
        "Python regular expression that must match the whole sender address; case is ignored, as in Postfix "
        "regexp tables.", _REGEX_RULE + "."], _sender_regex),
    Option("recipient", dict(type="list", elements="str"), [
        "Select messages with any of these recipients (whole address, case-insensitive)."], _recipient,
        kind="recipient"),
    Option("recipient_domain", dict(type="list", elements="str"), [
        "Select messages with a recipient in one of these domains (anchored, case-insensitive; a leading dot "
        "matches subdomains)."], _recipient_domain, kind="recipient"),
    Option("recipient_regex", dict(type="str"), [
        "Python regular expression that must match a whole recipient address; case is ignored.",
        _REGEX_RULE + "."], _recipient_regex, kind="recipient"),
    Option("reason_regex", dict(type="str"), [
        "Python regular expression that must match a recipient's whole delay reason; case is ignored.",
        "Reason text is never matched by any other option. Recipients without a delay reason (mail in hold, "
        "active, incoming, maildrop) never match.", _REGEX_RULE + "."], _reason_regex, kind="recipient"),
    Option("recipient_match", dict(type="str", choices=["any", "all"], default="any"), [
        "How the recipient filters (O(recipient), O(recipient_domain), O(recipient_regex), O(reason_regex)) "
        "apply to a message with several recipients.",
        "V(any) selects the message when any recipient matches; V(all) when every recipient does."],
        _recipient_match, kind="modifier"),
    Option("older_than", dict(type="raw"), [
        "Select messages that arrived at least this long ago, for example V(90s), V(30m), V(2h), V(3d), "
        "V(1w), V(1h30m), or a number of seconds.",
        "A message whose arrival time is unknown never matches."], _older_than),
    Option("younger_than", dict(type="raw"), [
        "Select messages that arrived less than this long ago (same format as O(older_than))."], _younger_than),
    Option("arrived_before", dict(type="raw"), [
        "Select messages that arrived before this time, in seconds since the epoch by the host's clock (as "
        "RV(mailops.postfix.postfix_queue_info#module:listed_at) gives it). A message whose arrival time is "
        "unknown never matches.",
        "C(postsuper -r) keeps a message's arrival time."], _arrived_before),
    Option("arrived_after", dict(type="raw"), [
        "Select messages that arrived at or after this time (same format as O(arrived_before))."], _arrived_after),
    Option("min_size", dict(type="raw"), [
        "Select messages of at least this size in bytes; suffixes V(k), V(M), V(G) are multiples of 1024."],
        _min_size),
    Option("max_size", dict(type="raw"), [
        "Select messages of at most this size (same format as O(min_size))."], _max_size),
    Option("sasl_username", dict(type="list", elements="str"), [
        "Select messages submitted by any of these SASL logins (exact, case-insensitive): the C(sasl_username) "
        "Postfix records in the queue file when the client authenticated (AUTH, or XCLIENT LOGIN).",
        "Read from the queue file's envelope records (C(postcat -q -e)) of the messages the other options left. "
        "A header that imitates it (C(named_attribute: sasl_username=...)) never matches, and the client's "
        "C(AUTH=) parameter (C(sasl_sender)) is never taken for a login.",
        "A post-queue content filter that re-injects over SMTP (amavis on port 10025) loses the login (XFORWARD "
        "has no LOGIN): select such mail by O(client_address), the original client, instead."],
        _sasl_username, tier=ORIGIN, kind="file"),
    Option("client_address", dict(type="list", elements="str"), [
        "Select messages whose original SMTP client is one of these IP addresses or networks (CIDR, such as "
        "V(192.0.2.0/24) or V(2001:db8::/32)).",
        "The original client is the one Postfix logs (C(log_client_address)): behind a content filter, the "
        "client before the filter, not the filter's C(127.0.0.1). Mail without a client (submitted with "
        "sendmail, Postfix's own bounces) never matches."], _client_address, tier=ORIGIN, kind="file"),
    Option("client_name_regex", dict(type="str"), [
        "Python regular expression that must match the original client's whole host name (C(log_client_name); "
        "V(unknown) when it had none).", _REGEX_RULE + "."], _client_name_regex, tier=ORIGIN, kind="file"),
    Option("helo_regex", dict(type="str"), [
        "Python regular expression that must match the whole HELO/EHLO name the original client gave.",
        _REGEX_RULE + "."], _helo_regex, tier=ORIGIN, kind="file"),
    Option("origin", dict(type="str", choices=list(ORIGINS)), [
        "Select messages by how they came in: V(smtp) from a network client (SMTP, or QMQP), V(local) "
        "submitted on the host with sendmail (no client: a script, a cron job, a web application), V(internal) "
        "Postfix's own bounces and notices."], _origin, tier=ORIGIN, kind="file"),
    Option("local_uid", dict(type="list", elements="int"), [
        "Select mail submitted with sendmail by any of these user IDs: the uid Postfix's pickup writes in the "
        "message's first C(Received:) header (C(Postfix, from userid 33)), read only for mail that came in "
        "locally, so a forged header in network mail never matches.",
        "Reads the headers (C(postcat -q -eh)); the body is never read."], _local_uid, tier=HEADERS, kind="file"),
    Option("header_regex", dict(type="dict"), [
        "Select messages with headers whose value matches: a dictionary of header name (case-insensitive) to a "
        "regular expression searched in the header's value, unfolded and with RFC 2047 encoded words decoded - "
        "for example C({Subject: 'cheap watches', X-PHP-Originating-Script: 'wp-mailer'}). Every header named "
        "must have a value that matches (any of its occurrences).",
        "Like Postfix's header_checks the expression is searched (anchor it with C(^) and C($)). "
        + _REGEX_RULE + ".",
        "Reads the headers (C(postcat -q -eh)) of the messages the other options left; the body is never read."],
        _header_regex, tier=HEADERS, kind="file"),
    Option("header_raw_regex", dict(type="dict"), [
        "As O(header_regex), matched against the header's value as the queue file has it (unfolded, encoded "
        "words not decoded)."], _header_raw_regex, tier=HEADERS, kind="file"),
    Option("body_regex", dict(type="str"), [
        "Select messages whose body matches: a regular expression searched in the first O(body_max_bytes) of "
        "the body (as the queue file has it: MIME parts and transfer encodings are not decoded).",
        "Requires O(body_max_bytes). Reads each remaining message whole (C(postcat -q)), so give it with "
        "cheaper options that narrow the selection first. " + _REGEX_RULE + "."],
        _body_regex, tier=BODY, kind="file"),
    Option("body_max_bytes", dict(type="raw"), [
        "How much of each body O(body_regex) reads, for example V(64k) or V(1M) (suffixes are multiples of 1024).",
        "Required with O(body_regex), refused without it."], _size_value, tier=BODY, kind="modifier"),
)
BY_NAME = {option.name: option for option in OPTIONS}
# The options that select (every row but the modifiers); a nested selection (exclude, junk) takes these and the modifiers.
NAMES = tuple(option.name for option in OPTIONS)
FILTERS = tuple(option.name for option in OPTIONS if option.kind != "modifier")
MODIFIER_DEFAULTS = {"recipient_match": "any"}


def _every_recipient(test: Test, quantifier: Callable[[Iterable[bool]], bool]) -> Test:
    """A recipient test as a message test: a message without recipients never matches."""
    return lambda m: bool(m["recipients"]) and quantifier(test(r) for r in m["recipients"])


def _check_pairs(given: Dict[str, Any]) -> None:
    """Options that cannot match together: refused rather than selecting nothing."""
    if "older_than" in given and "younger_than" in given and given["older_than"] >= given["younger_than"]:
        raise SelectionError("older_than (%ss) must be less than younger_than (%ss): nothing can match both"
                             % (given["older_than"], given["younger_than"]))
    if "arrived_before" in given and "arrived_after" in given and given["arrived_after"] >= given["arrived_before"]:
        raise SelectionError("arrived_after (%s) must be earlier than arrived_before (%s): nothing can match both"
                             % (given["arrived_after"], given["arrived_before"]))
    if "min_size" in given and "max_size" in given and given["min_size"] > given["max_size"]:
        raise SelectionError("min_size (%d) is larger than max_size (%d): nothing can match"
                             % (given["min_size"], given["max_size"]))
    if "body_regex" in given and "body_max_bytes" not in given:
        raise SelectionError("body_regex needs body_max_bytes: how much of each body to read (for example 64k)")
    if "body_max_bytes" in given and "body_regex" not in given:
        raise SelectionError("body_max_bytes is only for body_regex")
    if given.get("body_max_bytes") == 0:
        raise SelectionError("body_max_bytes: must be more than 0")


class Selector:
    """The selection options of both modules, as tests by tier.

    ``matches(message)`` applies the envelope options to a listed message; ``matches_file(queue_file)`` the
    origin and content options to a read queue file (see _postcat.queue_file); ``needs`` is the costliest tier
    a message must be read at (None: the listing is enough). Addresses and domains compare case-insensitively;
    domains are anchored; the regexes over one value (an address, a name, a reason) must match all of it,
    those over headers and body are searched. Recipient filters match when any recipient matches, or every
    recipient with ``recipient_match='all'``. An age filter never matches a message whose arrival time is
    unknown. A message whose queue text cannot tell (queue_name None) matches ``queues`` naming deferred,
    incoming or maildrop.
    """

    OPTIONS = NAMES

    def __init__(self, now: Optional[float] = None, **options: Any) -> None:
        unknown = sorted(set(options) - set(NAMES))
        if unknown:
            raise TypeError("unknown selection option(s): %s" % ", ".join(unknown))
        self.now = time.time() if now is None else now
        self.given: Dict[str, Any] = {}
        message_tests: List[Test] = []
        recipient_tests: List[Test] = []
        file_tests: Dict[str, List[Test]] = {ORIGIN: [], HEADERS: [], BODY: []}
        for option in OPTIONS:
            value = options.get(option.name)
            if value is None:
                continue
            if option.name in ("older_than", "younger_than"):
                test, normalised = option.build(value, option.name, self.now)
            else:
                test, normalised = option.build(value, option.name)
            if option.kind == "modifier":
                if value != MODIFIER_DEFAULTS.get(option.name):
                    self.given[option.name] = normalised
                continue
            self.given[option.name] = normalised
            if test is None:       # only a modifier has no test: a filter without one would select more, never less
                raise SelectionError("%s: the option built no test (a bug in its row of OPTIONS)" % option.name)
            if option.kind == "message":
                message_tests.append(test)
            elif option.kind == "recipient":
                recipient_tests.append(test)
            else:
                file_tests[option.tier].append(test)
        _check_pairs(self.given)
        recipient_match = self.given.get("recipient_match", "any")
        if recipient_tests:
            quantifier = all if recipient_match == "all" else any
            for test in recipient_tests:
                message_tests.append(_every_recipient(test, quantifier))
            self.given["recipient_match"] = recipient_match
        else:
            self.given.pop("recipient_match", None)
        self._tests = tuple(message_tests)
        if file_tests[BODY]:
            file_tests[BODY] = [_body_test(test, self.given["body_max_bytes"]) for test in file_tests[BODY]]
        self._file_tests = tuple(test for tier in (ORIGIN, HEADERS, BODY) for test in file_tests[tier])
        self.needs = next((tier for tier in (BODY, HEADERS, ORIGIN) if file_tests[tier]), None)
        self.body_limit = self.given.get("body_max_bytes")
        self.regexes = {name: value for name, value in self.given.items()
                        if name.endswith("_regex") and not isinstance(value, dict)}
        self.regexes.update(("%s.%s" % (name, header), pattern) for name in ("header_regex", "header_raw_regex")
                            for header, pattern in (self.given.get(name) or {}).items())

    @classmethod
    def from_params(cls, params: Dict[str, Any], now: Optional[float] = None) -> "Selector":
        """The selection of a module's parameters (the shared selection options)."""
        return cls(now=now, **{name: params.get(name) for name in NAMES})

    @classmethod
    def from_options(cls, options: Any, name: str, now: Optional[float] = None) -> "Selector":
        """A nested selection (exclude, incident.junk, subsets), checked as strictly; an empty one is refused."""
        if not isinstance(options, dict):
            raise SelectionError("%s: expected a dictionary of selection options, got %r" % (name, options))
        unknown = sorted(set(options) - set(NAMES))
        if unknown:
            raise SelectionError("%s: unknown selection option(s) %s (known: %s)"
                                 % (name, ", ".join(unknown), ", ".join(NAMES)))
        try:
            selector = cls(now=now, **{key: options.get(key) for key in NAMES})
        except SelectionError as exc:
            raise SelectionError("%s.%s" % (name, exc))
        if selector.is_empty:
            raise SelectionError("%s: no selection option given (it would match every message)" % name)
        return selector

    @property
    def is_empty(self) -> bool:
        """True when no filter was given: the selection is the whole queue."""
        return not self._tests and not self._file_tests

    @property
    def content_given(self) -> Dict[str, Any]:
        """The given options that are read from the queue file (origin, headers, body), normalised."""
        return {name: value for name, value in self.given.items()
                if name in BY_NAME and BY_NAME[name].tier != ENVELOPE}

    def matches(self, message: Dict[str, Any]) -> bool:
        """The envelope options, on a listed message."""
        for test in self._tests:
            if not test(message):
                return False
        return True

    def matches_file(self, queue_file: Dict[str, Any]) -> bool:
        """The origin and content options, on a read queue file (True when none is given)."""
        for test in self._file_tests:
            if not test(queue_file):
                return False
        return True

    def select(self, messages: Iterable[Dict[str, Any]]) -> Iterator[Dict[str, Any]]:
        """Yield the messages whose envelope matches."""
        if not self._tests:
            return iter(messages)
        return (m for m in messages if self.matches(m))


def budget(selectors: Iterable[Optional["Selector"]], consequence: str = "Nothing was changed") -> _regex.CpuBudget:
    """The CPU budget a selection runs under when its selectors have regular expressions (see _regex); CONSEQUENCE
    ends its error's message."""
    regexes = {}
    for selector in selectors:
        if selector is not None:
            regexes.update(selector.regexes)
    shown = ", ".join("%s=%r" % item for item in sorted(regexes.items()))
    return _regex.CpuBudget(_regex.CPU_BUDGET if regexes else 0,
                            "the selection used more than %d s of CPU time matching its regular expressions (%s): one "
                            "of them may backtrack without end on these values. %s"
                            % (_regex.CPU_BUDGET, shown, consequence), SelectionError)


def argument_spec() -> Dict[str, Dict[str, Any]]:
    """The selection options' argument spec, from the table."""
    return {option.name: dict(option.spec) for option in OPTIONS}


# The fragment's notes (with the options of doc_fragment(): scripts/doc-fragment.py writes both into
# plugins/doc_fragments/postfix.py).
DOC_NOTES = (
    "All given selection options must match. An option given a list matches when any element does.",
    "The options are evaluated cheapest first, each on the messages the cheaper ones left: the listing "
    "(C(postqueue -j)), then the queue file's envelope records (C(postcat -q -e): O(sasl_username), "
    "O(client_address), O(client_name_regex), O(helo_regex), O(origin)), then its headers "
    "(C(postcat -q -eh): O(local_uid), O(header_regex), O(header_raw_regex)), and the body only for "
    "O(body_regex), in batches of a thousand IDs (for the body, of at most 16 MiB of the messages' listed sizes).",
)


def doc_fragment() -> Dict[str, Dict[str, Any]]:
    """The selection options' documentation (the doc fragment's options), from the table."""
    options = {}
    for option in OPTIONS:
        entry = {"description": list(option.doc)}
        entry.update(option.spec)
        options[option.name] = entry
    return options
