# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The values users and Postfix write, read in one place. PURE, stdlib only.

Durations (``90s``, ``2h``, Postfix's ``5d``), sizes (``10k``), times (seconds since the epoch), Postfix list
parameters (commas and/or whitespace), incident IDs. Each reader raises the error class its caller gives, with
a message that names the option.
"""

from __future__ import absolute_import, division, print_function

import math
import re
from typing import Any, List, Mapping, Optional, Type

from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError

# ASCII digits only: str.isdigit() and a Unicode \d also accept '²' or '٣'.
_DIGITS_RE = re.compile(r"\A[0-9]+\Z")
_DURATION_RE = re.compile(r"\A(?:[0-9]+[smhdw])+\Z")
_DURATION_PART_RE = re.compile(r"([0-9]+)([smhdw])")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_POSTFIX_TIME_RE = re.compile(r"\A([0-9]+)([smhdw]?)\Z")
_SIZE_RE = re.compile(r"\A([0-9]+)([kKmMgG]?)\Z")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
_LIST_SPLIT_RE = re.compile(r"[\s,]+")
INCIDENT_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}"
_INCIDENT_ID_RE = re.compile(r"\A%s\Z" % INCIDENT_ID_PATTERN)
INCIDENT_ID_RULE = "expected 1 to 64 letters, digits, '.', '_', ':' or '-' (starting with a letter or digit)"


class ValueProblem(MailopsError):
    """A value that cannot be read (raised when the caller names no error class of its own)."""


def parse_duration(value: Any, name: str = "duration", error: Type[Exception] = ValueProblem) -> int:
    """Seconds from ``90s``, ``30m``, ``2h``, ``3d``, ``1w``, ``1h30m`` or plain seconds."""
    if isinstance(value, bool):
        raise error("%s: expected a duration like 90s, 30m, 2h or 3d, got %r" % (name, value))
    if isinstance(value, int):
        if value < 0:
            raise error("%s: a duration cannot be negative: %r" % (name, value))
        return value
    text = str(value).strip()
    if _DIGITS_RE.match(text):
        return int(text)
    if not _DURATION_RE.match(text):
        raise error("%s: expected a duration like 90s, 30m, 2h or 3d, got %r" % (name, value))
    return sum(int(amount) * DURATION_UNITS[unit] for amount, unit in _DURATION_PART_RE.findall(text))


def postfix_time(value: Any, default_unit: str = "d", error: Type[Exception] = ValueProblem) -> int:
    """Seconds of a Postfix time parameter such as '5d' (no unit: DEFAULT_UNIT, days for maximal_queue_lifetime)."""
    match = _POSTFIX_TIME_RE.match(str(value).strip())
    if not match:
        raise error("cannot read the Postfix time value %r" % (value,))
    return int(match.group(1)) * DURATION_UNITS[match.group(2) or default_unit]


def parse_epoch(value: Any, name: str = "time", error: Type[Exception] = ValueProblem) -> float:
    """Seconds since the epoch (the host's clock), as a number or a string of digits."""
    if isinstance(value, bool):
        raise error("%s: expected seconds since the epoch, got %r" % (name, value))
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise error("%s: expected seconds since the epoch (a number), got %r" % (name, value))
    if math.isnan(seconds) or seconds < 0 or seconds > 1e11:
        raise error("%s: %r is not a time (seconds since the epoch)" % (name, value))
    return seconds


def parse_size(value: Any, name: str = "size", error: Type[Exception] = ValueProblem) -> int:
    """Bytes from ``2048``, ``10k``, ``5M`` or ``1G`` (binary multiples)."""
    if isinstance(value, bool):
        raise error("%s: expected a size like 2048, 10k or 5M, got %r" % (name, value))
    if isinstance(value, int):
        if value < 0:
            raise error("%s: a size cannot be negative: %r" % (name, value))
        return value
    match = _SIZE_RE.match(str(value).strip())
    if not match:
        raise error("%s: expected a size like 2048, 10k or 5M, got %r" % (name, value))
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


# How far in the future a plan's creation time may be (clocks of controller and hosts drift a little).
CLOCK_SKEW = 300


def format_duration(seconds: float) -> str:
    """``1h02m`` or ``4m05s``: a duration as the operator reads it in a message."""
    seconds = int(seconds)
    if seconds >= 3600:
        return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
    return "%dm%02ds" % (seconds // 60, seconds % 60)


def plan_age_problem(created: float, now: float, max_age: float, max_age_name: str) -> Optional[str]:
    """The one rule for a plan's age, module plans and runbook plans alike: None, or what is wrong with it.

    A plan is stale once older than ``max_age`` (seconds; the option is named ``max_age_name``), and suspect when
    made more than CLOCK_SKEW seconds in the future.
    """
    age = now - created
    if age > max_age:
        return "is %s old, older than %s (%s): it is stale - make a new plan" % (
            format_duration(age), max_age_name, format_duration(max_age))
    if age < -CLOCK_SKEW:
        return "was made %s in the future: check the clocks" % format_duration(-age)
    return None


def split_list(value: Optional[str]) -> List[str]:
    """A Postfix list parameter's elements (commas and/or whitespace separate them)."""
    return [item for item in _LIST_SPLIT_RE.split(value or "") if item]


def parameters_text(values: Mapping[str, Optional[str]]) -> str:
    """main.cf parameters as ``name = value`` lines, sorted by name (a diff's before or after)."""
    return "".join("%s = %s\n" % (name, values[name]) for name in sorted(values))


def is_incident_id(value: Any) -> bool:
    return isinstance(value, str) and _INCIDENT_ID_RE.match(value) is not None
