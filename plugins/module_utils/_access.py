# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""Blocking at the door, pure: the access(5) entries checked, the maps' text, the restriction lists with the check first.

One table (BLOCKS) says, per kind of block, the module option, the map option, the main.cf restriction list and the
access check that goes first in it. postfix_block (through _blocking) and the runbook's pre-flight (plugin_utils) check
the entries with the same functions, so the controller refuses exactly what a host would.
"""

from __future__ import absolute_import, division, print_function

import re
from collections import namedtuple
from typing import Any, Callable, Dict, Iterable, List, Mapping, Sequence, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils._values import split_list

# Map types postmap builds an indexed file for, and the file it writes for each.
MAP_SUFFIX = {"hash": ".db", "btree": ".db", "lmdb": ".lmdb", "cdb": ".cdb", "dbm": ".pag", "sdbm": ".pag"}
INDEXED_MAP_TYPES = tuple(MAP_SUFFIX)
DEFAULT_REJECT_ACTION = "REJECT blocked by the mail administrators during an incident"
SUBMITTERS = "authorized_submit_users"

# access(5) actions that refuse the mail (never OK, PERMIT, DUNNO, a 2xx/3xx code, or anything else).
_REJECT_RE = re.compile(r"\A(?:(?:REJECT|DEFER|DEFER_IF_REJECT|DEFER_IF_PERMIT|DISCARD|HOLD)(?: [ -~]*)?"
                        r"|[45][0-9][0-9](?: [ -~]*)?)\Z")
_LOCAL_PART = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# A domain: dot-separated labels, the last one not all digits (300.1.2.3 is no domain); a leading dot for subdomains.
_DOMAIN = r"\.?(?:%s\.)*(?=[A-Za-z0-9-]*[A-Za-z])%s" % (_LABEL, _LABEL)
_SENDER_RES = (
    (re.compile(r"\A%s@%s\Z" % (_LOCAL_PART, _DOMAIN)), "address"),
    (re.compile(r"\A@%s\Z" % _DOMAIN), "@domain"),
    (re.compile(r"\A%s@\Z" % _LOCAL_PART), "user@"),
    (re.compile(r"\A%s\Z" % _DOMAIN), "domain"),
)
_IPV4_PREFIX_RE = re.compile(r"\A(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){0,3}\Z")
_IPV6_RE = re.compile(r"\A[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*\Z")
_LOCAL_USER_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?\Z")


def _one_map_key(where: str, entry: Any, give: str = "") -> List[str]:
    """An access map key must be one field: a non-empty string without whitespace or control characters (anything
    after a space would be read as the key's action, such as OK). The problems, or []."""
    if not isinstance(entry, str) or not entry:
        return ["%s: expected a non-empty string, got %r" % (where, entry)]
    if any(ord(char) < 32 or ord(char) == 127 or char.isspace() for char in entry):
        return ["%s: %r has whitespace or a control character: it would add a second field (an action such as OK) "
                "to the access map%s" % (where, entry, give)]
    return []


def check_sender_entry(name: str, index: int, entry: Any) -> List[str]:
    where = "%s[%d]" % (name, index)
    problems = _one_map_key(where, entry, ". Give one address, @domain, domain or user@ per entry")
    if problems:
        return problems
    if entry == "<>" or entry.upper() == "MAILER-DAEMON":
        return ["%s: %r would refuse every bounce (the null sender); block the real sender instead" % (where, entry)]
    if not any(pattern.match(entry) for pattern, _kind in _SENDER_RES):
        return ["%s: %r is not an access(5) sender key: expected user@domain, @domain, domain or user@"
                % (where, entry)]
    return []


def check_client_entry(name: str, index: int, entry: Any) -> List[str]:
    where = "%s[%d]" % (name, index)
    problems = _one_map_key(where, entry)
    if problems:
        return problems
    if "/" in entry:
        return ["%s: %r: an indexed access map does not understand CIDR; give the network as an address prefix "
                "(10.1.2 for 10.1.2.0/24) or use your own cidr: table in fix_tasks_file" % (where, entry)]
    if _IPV4_PREFIX_RE.match(entry) or _IPV6_RE.match(entry) or re.match(r"\A%s\Z" % _DOMAIN, entry):
        return []
    return ["%s: %r is not an access(5) client key: expected an IP address, an address prefix (10.1.2) or a "
            "host or domain name" % (where, entry)]


def check_login_entry(name: str, index: int, entry: Any) -> List[str]:
    return _one_map_key("%s[%d]" % (name, index), entry)


def check_local_user_entry(name: str, index: int, entry: Any) -> List[str]:
    where = "%s[%d]" % (name, index)
    if not isinstance(entry, str) or not _LOCAL_USER_RE.match(entry):
        return ["%s: %r is not a local user name (letters, digits, '_', '.', '-', starting with a letter or '_'): "
                "authorized_submit_users takes names" % (where, entry)]
    return []


def check_list(name: str, value: Any, check: Callable[[str, int, Any], List[str]]) -> List[str]:
    """The problems of a list option whose every entry CHECK checks (None: not given, no problem)."""
    if value is None:
        return []
    if not isinstance(value, list):
        return ["%s: expected a list, got %r" % (name, value)]
    problems = []
    for index, entry in enumerate(value):
        problems.extend(check(name, index, entry))
    return problems


def check_reject_action(name: str, action: Any) -> List[str]:
    if action is None or (isinstance(action, str) and _REJECT_RE.match(action)):
        return []
    return ["%s: %r does not refuse the mail; expected REJECT, DEFER, DEFER_IF_REJECT, DEFER_IF_PERMIT, DISCARD or "
            "HOLD (optionally followed by a text), or a 4xx/5xx code and a text, on one line" % (name, action)]


def check_map_type(name: str, map_type: Any) -> List[str]:
    if map_type is None or map_type in INDEXED_MAP_TYPES:
        return []
    return ["%s: %r is not a map type postmap indexes; expected one of %s" % (name, map_type, ", ".join(INDEXED_MAP_TYPES))]


# One kind of block: the module's option for its entries and for its map, the runbook's (fix role's) variables for
# them, the main.cf restriction list the access check goes first in, the check, and how an entry is checked.
Block = namedtuple("Block", "kind option map_option variable map_variable parameter check check_entry")

BLOCKS = (
    Block("sender", "senders", "sender_map", "fix_block_senders", "fix_sender_map", "smtpd_sender_restrictions",
          "check_sender_access", check_sender_entry),
    Block("client", "clients", "client_map", "fix_block_clients", "fix_client_map", "smtpd_client_restrictions",
          "check_client_access", check_client_entry),
    Block("sasl", "sasl_users", "sasl_map", "fix_block_sasl_users", "fix_sasl_map", "smtpd_sender_restrictions",
          "check_sasl_access", check_login_entry),
)
# Local users refused at sendmail (authorized_submit_users), which has no map.
LOCAL_OPTION, LOCAL_VARIABLE = "local_users", "fix_block_local_users"


def entry_problems(values: Mapping[str, Any], names: str = "option") -> List[str]:
    """The problems of the entries in VALUES, keyed by the module's options (NAMES="option") or the fix role's
    variables (NAMES="variable")."""
    problems = []
    for block in BLOCKS:
        name = getattr(block, names)
        problems.extend(check_list(name, values.get(name), block.check_entry))
    local = LOCAL_OPTION if names == "option" else LOCAL_VARIABLE
    problems.extend(check_list(local, values.get(local), check_local_user_entry))
    return problems


def map_text(entries: Iterable[str], action: str) -> str:
    """An access map this collection owns: a header, then one ``KEY ACTION`` line per entry (each key once: postmap
    warns of a duplicate key and keeps the first)."""
    return "# Managed by mailops.postfix: rewritten whole on every run.\n" + "".join(
        "%s %s\n" % (key, action) for key in dict.fromkeys(entries))


def restriction_first(current: str, check: str) -> str:
    """The restriction list with CHECK ('check_sender_access hash:/path') first, or '' when its table is in it."""
    table = check.split()[-1]
    if table in split_list(current):
        return ""
    current = (current or "").strip()
    return check + (", " + current if current else "")


def submitters_without(current: str, users: Iterable[str]) -> str:
    """authorized_submit_users with ``!user`` first for each of USERS not yet refused, or '' when all already are.

    The list is matched left to right and the first match wins, so a ``!user`` ahead of everything refuses that user
    whatever follows (``static:anyone``, the default, included)."""
    items = split_list(current)
    missing = [user for user in users if "!" + user not in items]
    if not missing:
        return ""
    return ", ".join(["!" + user for user in missing] + items)


def restriction_parameters(blocks: Sequence[Tuple[Block, str]], local_users: Sequence[str]) -> List[str]:
    """The main.cf parameters that blocking BLOCKS ((block, map path) pairs) and LOCAL_USERS reads and may change."""
    names = []   # type: List[str]
    for block, _path in blocks:
        if block.parameter not in names:
            names.append(block.parameter)
    if local_users:
        names.append(SUBMITTERS)
    return names


def new_parameters(current: Mapping[str, str], blocks: Sequence[Tuple[Block, str]], map_type: str,
                   local_users: Sequence[str]) -> Dict[str, str]:
    """{parameter: new value} for the parameters that must change so that each of BLOCKS' checks is in its
    restriction list (first, when it is added) and each of LOCAL_USERS is refused; {} when nothing must change.

    Blocks are applied in order, so of two checks added to one list the later one ends up first."""
    values = dict(current)
    for block, path in blocks:
        new = restriction_first(values[block.parameter], "%s %s:%s" % (block.check, map_type, path))
        if new:
            values[block.parameter] = new
    if local_users:
        new = submitters_without(values[SUBMITTERS], local_users)
        if new:
            values[SUBMITTERS] = new
    return {name: value for name, value in values.items() if value != current[name]}
