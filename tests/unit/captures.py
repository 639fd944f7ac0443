# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real Postfix 3.7.11 captures kept beside the unit tests (see fixtures/.../INDEX.md)."""

from __future__ import absolute_import, division, print_function

import json
import os

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "postfix-3.7.11")
# The captures were made with the clock a little before this (UTC).
CAPTURE_NOW = 1795960200

# Listings captured as the same queue in both forms.
PAIRED_LISTINGS = (
    "mixed_all_queues",
    "mixed_longids",
    "corrupt_in_deferred",
    "mixed_short_and_long_ids_longids_disabled",
)


def read(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def names(suffix):
    return sorted(n[:-len(suffix)] for n in os.listdir(FIXTURES) if n.endswith(suffix))


def semantics():
    """The postsuper_semantics.jsonl cases, by name."""
    cases = {}
    for line in read("postsuper_semantics.jsonl").splitlines():
        case = json.loads(line)
        cases[case["name"]] = case
    return cases


LAB = os.path.join(os.path.dirname(__file__), "fixtures", "lab-3.7.11")


def read_lab(name):
    """A capture made in the project's lab (see fixtures/lab-3.7.11/INDEX.md)."""
    with open(os.path.join(LAB, name), encoding="utf-8") as handle:
        return handle.read()
