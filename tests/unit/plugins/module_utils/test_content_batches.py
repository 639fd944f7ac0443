# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How the listed messages are cut into postcat runs: by count for the envelope and header tiers, and by the listed
sizes too when whole messages are read (a body regex), so multi-MB messages are never read a thousand at a time."""

from __future__ import absolute_import, division, print_function

from ansible_collections.mailops.postfix.plugins.module_utils import _content, _listing
from ansible_collections.mailops.postfix.plugins.module_utils._selection import BODY, HEADERS, ORIGIN
from ansible_collections.mailops.postfix.tests.unit import captures


def listed():
    """A real listing: messages in every queue, one of them 2,102,430 bytes, the rest a few hundred."""
    messages = _listing.parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout"))
    assert max(m["message_size"] for m in messages) == 2102430
    return messages


def flat(batches):
    return [m["queue_id"] for batch in batches for m in batch]


def test_every_message_once_in_listing_order_whatever_the_cut():
    messages = listed()
    for tier in (ORIGIN, HEADERS, BODY):
        for size, limit in ((1, 1), (3, 4096), (1000, 1), (1000, _content.BODY_BATCH_BYTES)):
            assert flat(_content.batches(messages, tier, size, limit)) == [m["queue_id"] for m in messages]


def test_envelope_and_header_tiers_cut_by_count_only():
    messages = listed()
    for tier in (ORIGIN, HEADERS):
        assert [len(b) for b in _content.batches(messages, tier, 5, 1)] == [5] * (len(messages) // 5) + [len(messages) % 5]


def test_body_tier_keeps_each_postcat_under_the_byte_bound():
    messages = listed()
    limit = 4096
    cut = list(_content.batches(messages, BODY, 1000, limit))
    assert len(cut) > 1
    for batch in cut:
        total = sum(m["message_size"] for m in batch)
        assert total <= limit or len(batch) == 1          # only a message larger than the bound goes alone
    big = [batch for batch in cut if any(m["message_size"] == 2102430 for m in batch)]
    assert [len(b) for b in big] == [1]


def test_body_tier_still_cut_by_count():
    messages = listed()
    assert max(len(b) for b in _content.batches(messages, BODY, 2, _content.BODY_BATCH_BYTES)) == 2
