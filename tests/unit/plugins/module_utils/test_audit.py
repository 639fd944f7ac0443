# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit line both writers compose: operator first, pairs in order, None left out, IDs bounded."""

from __future__ import absolute_import, division, print_function

from ansible_collections.mailops.postfix.plugins.module_utils import _audit


def test_the_line_reads_in_order_and_leaves_out_what_is_none():
    text = _audit.line(None, [("incident", "INC-7"), ("event", "window_ended"), ("plan", None), ("quarantine", 0)])
    assert text == "operator=- incident=INC-7 event=window_ended quarantine=0"
    assert _audit.line("alice", []) == "operator=alice"


def test_ids_are_bounded_and_counted():
    ids = ["%011X" % number for number in range(_audit.SHOWN_IDS + 3)]
    assert _audit.ids(ids) == ",".join(ids[:_audit.SHOWN_IDS]) + ",...(3 more)"
    assert _audit.ids(ids[:2]) == ",".join(ids[:2])
    assert _audit.ids([]) == "-"


def test_values_stay_on_one_line():
    assert _audit.json_value({"sender": ["a@b.c"], "queue": "hold"}) == '{"queue":"hold","sender":["a@b.c"]}'
    assert _audit.json_value(None) == "{}"
