# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The one base of the collection's errors. PURE.

Every error the module_utils raise for the user - a listing that does not parse, a selection that
cannot be, a Postfix command that failed, an action refused, an archive that cannot be used, an
incident or a plan that does not fit - is a MailopsError: a module catches that one class and turns
it into its failure, with the message as it is (it says what happened and what to do).
"""

from __future__ import absolute_import, division, print_function


class MailopsError(ValueError):
    """A run that cannot go on, with a message for the operator."""
