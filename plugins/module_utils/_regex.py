# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""Users' regular expressions, bounded: they run as root over every queued message.

Two bounds, so that one pattern cannot hang a run while the incident window holds all mail:

- **when it is given** (the modules' argument checks and the runbook's pre-flight): at most MAX_LENGTH
  characters, it must compile, and its shape must not backtrack catastrophically - no quantifier over
  something that itself has an unbounded quantifier (``(a+)+``, ``(\\w+\\s?)*``), no unbounded quantifier
  over alternatives that can start alike or match nothing (``(a|ab)*``, ``(x|)*``). These are the patterns
  whose matching time grows exponentially with the length of the value.
- **when it runs**: the selection of one module run may use at most CPU_BUDGET seconds of the module's own
  CPU time (Postfix's commands are other processes and do not count); past it the run stops, having changed
  nothing. Python's regex engine checks for signals while it matches, so even one runaway match is ended.

The parser of Python's ``re`` module (``re._parser``, ``sre_parse`` before Python 3.11) is used to read the
pattern's shape: it is the grammar the pattern is compiled with.
"""

from __future__ import absolute_import, division, print_function

import re
import signal
import threading
from typing import Any, Callable, List, Optional, Pattern, Set, Type

try:    # Python 3.11 and later
    from re import _parser as _sre_parse          # pylint: disable=no-name-in-module
    from re import _constants as _sre_constants   # pylint: disable=no-name-in-module
except ImportError:    # Python 3.10 and earlier
    import sre_constants as _sre_constants  # pylint: disable=deprecated-module
    import sre_parse as _sre_parse  # pylint: disable=deprecated-module

MAX_LENGTH = 1000
# A quantifier whose upper bound is above this counts as unbounded when it encloses another one.
NESTING_BOUND = 4
CPU_BUDGET = 120

_REPEATS = tuple(getattr(_sre_constants, name) for name in ("MAX_REPEAT", "MIN_REPEAT") if hasattr(_sre_constants, name))
_POSSESSIVE = getattr(_sre_constants, "POSSESSIVE_REPEAT", None)
_MAXREPEAT = _sre_constants.MAXREPEAT
_C = _sre_constants


def compile_bounded(pattern: Any, name: str, error: Type[Exception]) -> Pattern[str]:
    """Compile a user's regular expression (case-insensitive, as Postfix's regexp tables), or raise ERROR naming
    NAME: not a string, too long, invalid, or shaped to backtrack catastrophically."""
    if not isinstance(pattern, str):
        raise error("%s: expected a regular expression (a string), got %r" % (name, pattern))
    if len(pattern) > MAX_LENGTH:
        raise error("%s: the regular expression is %d characters long, more than %d" % (name, len(pattern), MAX_LENGTH))
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
        tree = _sre_parse.parse(pattern, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError) as exc:
        raise error("%s: invalid regular expression %r: %s" % (name, pattern, exc))
    problem = _risk(tree)
    if problem:
        raise error("%s: %r %s: matching it can take time that grows exponentially with the length of the value. "
                    "Rewrite it so that no quantified part can match the same text in more than one way (for example "
                    "'[^@]+@example[.]com' rather than '(\\w+\\.?)+@example[.]com')" % (name, pattern, problem))
    return compiled


def _items(subpattern: Any) -> List[Any]:
    return list(subpattern)


def _children(op: Any, av: Any) -> List[Any]:
    """The sub-patterns directly inside one item of a parsed pattern."""
    if op in _REPEATS or (_POSSESSIVE is not None and op == _POSSESSIVE):
        return [av[2]]
    if op == _C.SUBPATTERN:
        return [av[-1]]
    if op == _C.BRANCH:
        return list(av[1])
    if op in (_C.ASSERT, _C.ASSERT_NOT):
        return [av[1]]
    if op == getattr(_C, "ATOMIC_GROUP", None):
        return [av]
    if op == _C.GROUPREF_EXISTS:
        return [branch for branch in av[1:] if branch is not None]
    return []


def _has_unbounded(subpattern: Any) -> bool:
    for op, av in _items(subpattern):
        if op in _REPEATS and av[1] == _MAXREPEAT:
            return True
        if any(_has_unbounded(child) for child in _children(op, av)):
            return True
    return False


def _nullable(subpattern: Any) -> bool:
    """Whether the sub-pattern can match the empty string (conservatively: True when unsure)."""
    for op, av in _items(subpattern):
        if op in (_C.AT, _C.ASSERT, _C.ASSERT_NOT):
            continue
        if op in _REPEATS or (_POSSESSIVE is not None and op == _POSSESSIVE):
            if av[0] > 0 and not _nullable(av[2]):
                return False
            continue
        if op == _C.SUBPATTERN:
            if not _nullable(av[-1]):
                return False
            continue
        if op == _C.BRANCH:
            if not any(_nullable(branch) for branch in av[1]):
                return False
            continue
        if op == _C.GROUPREF or op == _C.GROUPREF_EXISTS:
            continue
        return False
    return True


_ANY = "any"


def _first(subpattern: Any) -> Any:
    """The characters a sub-pattern's match can start with: a set of lower-cased characters, or _ANY."""
    for op, av in _items(subpattern):
        if op in (_C.AT, _C.ASSERT, _C.ASSERT_NOT):
            continue
        if op == _C.LITERAL:
            return {chr(av).lower()}
        if op == _C.IN:
            chars = set()
            for item_op, item_av in av:
                if item_op == _C.LITERAL:
                    chars.add(chr(item_av).lower())
                elif item_op == _C.RANGE and item_av[1] - item_av[0] < 64:
                    chars.update(chr(code).lower() for code in range(item_av[0], item_av[1] + 1))
                else:
                    return _ANY
            return chars
        if op == _C.SUBPATTERN or op in _REPEATS or (_POSSESSIVE is not None and op == _POSSESSIVE):
            body = av[-1] if op == _C.SUBPATTERN else av[2]
            if _nullable(body):
                return _ANY
            return _first(body)
        if op == _C.BRANCH:
            firsts = [_first(branch) for branch in av[1]]
            if any(first is _ANY for first in firsts):
                return _ANY
            return set().union(*firsts)
        return _ANY
    return _ANY


def _ambiguous_branch(subpattern: Any) -> bool:
    """A set of alternatives (directly in SUBPATTERN) that can match alike or match nothing."""
    for op, av in _items(subpattern):
        if op == _C.BRANCH:
            branches = av[1]
            if any(_nullable(branch) for branch in branches):
                return True
            seen: Set[str] = set()
            for branch in branches:
                first = _first(branch)
                if first is _ANY or seen & first:
                    return True
                seen |= first
        elif op == _C.SUBPATTERN and _ambiguous_branch(av[-1]):
            return True
    return False


_CATEGORIES = {getattr(_C, name): text for name, text in (
    ("CATEGORY_WORD", r"\w"), ("CATEGORY_NOT_WORD", r"\W"), ("CATEGORY_DIGIT", r"\d"), ("CATEGORY_NOT_DIGIT", r"\D"),
    ("CATEGORY_SPACE", r"\s"), ("CATEGORY_NOT_SPACE", r"\S")) if hasattr(_C, name)}


def _class_matcher(item: Any) -> Optional[Callable[[str], bool]]:
    """A test ``char -> bool`` for a one-character item (a literal, a class, '.'), or None for anything else."""
    op, av = item
    if op == _C.LITERAL:
        return lambda char: char.lower() == chr(av).lower()
    if op == _C.ANY:
        return lambda char: char != "\n"
    if op == _C.NOT_LITERAL:
        return lambda char: char.lower() != chr(av).lower()
    if op != _C.IN:
        return None
    parts, negate = [], ""
    for item_op, item_av in av:
        if item_op == _C.NEGATE:
            negate = "^"
        elif item_op == _C.LITERAL:
            parts.append(re.escape(chr(item_av)))
        elif item_op == _C.RANGE:
            parts.append("%s-%s" % (re.escape(chr(item_av[0])), re.escape(chr(item_av[1]))))
        elif item_op == _C.CATEGORY and item_av in _CATEGORIES:
            parts.append(_CATEGORIES[item_av])
        else:
            return None
    compiled = re.compile("[%s%s]" % (negate, "".join(parts)), re.IGNORECASE)
    return lambda char: compiled.match(char) is not None


# The characters two classes are compared on: ASCII and the Latin, Greek and Cyrillic letters (a class that differs
# from another only outside these is not a delimiter users write).
_SAMPLE = [chr(code) for code in range(0x500)]


def _disjoint(matcher: Callable[[str], bool], item: Any) -> bool:
    """Whether no character matched by MATCHER can start ITEM (a one-character item, or anything with a known start)."""
    other = _class_matcher(item)
    if other is not None:
        return not any(matcher(char) and other(char) for char in _SAMPLE)
    first = _first([item])
    return first is not _ANY and not any(matcher(char) for char in first)


def _flat(subpattern: Any) -> List[Any]:
    """The items of a sequence, groups opened in place (a group's content is part of the sequence around it)."""
    items = []
    for op, av in _items(subpattern):
        if op == _C.SUBPATTERN:
            items.extend(_flat(av[-1]))
        else:
            items.append((op, av))
    return items


def _delimited(body: Any) -> bool:
    r"""Whether every unbounded quantifier in a quantified part is a one-character class followed by a required
    character it cannot match - ``([a-z0-9-]+\.)+``: each round ends at its delimiter, so the text splits one way only."""
    items = _flat(body)
    for index, (op, av) in enumerate(items):
        if op in _REPEATS and av[1] == _MAXREPEAT:
            inner = _items(av[2])
            matcher = _class_matcher(inner[0]) if len(inner) == 1 else None
            following = items[index + 1:index + 2]
            if matcher is None or not following or _nullable(following):
                return False
            if not _disjoint(matcher, following[0]):
                return False
        elif any(_has_unbounded(child) for child in _children(op, av)):
            return False
    return True


def _risk(subpattern: Any) -> Optional[str]:
    """Why the parsed pattern may backtrack catastrophically, or None."""
    for op, av in _items(subpattern):
        if op in _REPEATS:
            low, high, body = av
            repeats = high == _MAXREPEAT or high > NESTING_BOUND
            if repeats and high == _MAXREPEAT and _nullable(body):
                return "repeats without bound a part that can match nothing"
            if repeats and high == _MAXREPEAT and _ambiguous_branch(body):
                return "repeats without bound alternatives that can match the same text"
            if repeats and _has_unbounded(body) and not _delimited(body):
                return "has a quantifier inside a quantified part"
            problem = _risk(body)
            if problem:
                return problem
            continue
        if _POSSESSIVE is not None and op == _POSSESSIVE:
            continue    # possessive: never backtracks into its body
        for child in _children(op, av):
            problem = _risk(child)
            if problem:
                return problem
    return None


class CpuBudget:
    """A bound on the CPU time (this process's own) that a block of work may take: past it, ERROR(message) is raised
    where the work is, a running regex match included. Does nothing where the timer cannot be set (not the main
    thread, no setitimer)."""

    def __init__(self, seconds: float, message: str, error: Type[Exception]) -> None:
        self.seconds = seconds
        self.message = message
        self.error = error
        self._previous: Any = None
        self._armed = False

    def _expired(self, _signum: int, _frame: Any) -> None:
        raise self.error(self.message)

    def __enter__(self) -> "CpuBudget":
        if self.seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGPROF, self._expired)
            signal.setitimer(signal.ITIMER_PROF, self.seconds)
            self._armed = True
        return self

    def __exit__(self, *_exc: Any) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, self._previous)
            self._armed = False
