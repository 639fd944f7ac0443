# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark postfix_queue_action (hold 10% of 100,000 messages by domain) against raw Postfix tools.

Same queue as bench_info.py (N deferred messages, 10% to the selected domain,
frozen). Each round, from the same state (the held messages are released
with one ``postsuper -H ALL hold`` between runs):

  pipeline  postqueue -j | jq (select by recipient domain) | postsuper -h -
  module    the module run directly by Python: list, parse, select, plan,
            postsuper -h - in batches of 10,000, per-ID accounting
  ansible   the same through ``ansible localhost -m``; ``ansible -m ping`` is the fixed cost

  ansible_all      the same ansible call holding every message (queues: deferred): with the 10% run,
                   the marginal cost per extra message of the whole call (the IDs returned)
  postsuper_all    postsuper -h ALL deferred: the whole queue without naming IDs (what a hold of whole queues runs)
  ansible_named*   every message again, but naming each ID (max_messages given: a hold that is not of whole queues,
                   as any narrower selection is) - the module's marginal cost where it cannot use ALL
  pipeline_all     the raw pipeline holding every message (postqueue -j | jq | postsuper -h -): with the
                   10% pipeline, the raw pipeline's own marginal cost per extra message - what the
                   module's marginal cost is measured against (and, for scale, the loop's per message)
  *_noids          both again with return_ids: false (counts only, as the runbook's roles run it)

and once, the classic script's loop: one ``postsuper -h ID`` per message on
1,000 of the selected messages, extrapolated to the whole selection.

    python bench/bench_action.py --messages 100000 --rounds 5
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import ROOT, HERE, fill, frozen, medians, timed  # noqa: E402  (common puts tests/integration on the path)

import live_postfix  # noqa: E402  (the tests' own Postfix set-up)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loop-sample", type=int, default=1000)
    parser.add_argument("--domain", default="junk.example")
    parser.add_argument("--venv", default=os.path.join(ROOT, ".venv", "ctl-2.21"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "bench_action.json"))
    args = parser.parse_args()

    build = os.path.join(ROOT, ".build")
    module = os.path.join(build, "ansible_collections", "mailops", "postfix", "plugins", "modules",
                          "postfix_queue_action.py")
    python = os.path.join(args.venv, "bin", "python")
    ansible = os.path.join(args.venv, "bin", "ansible")
    env = dict(os.environ, PYTHONPATH=build, ANSIBLE_COLLECTIONS_PATH=build, LANG="C.UTF-8",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    module_args = {"action": "hold", "recipient_domain": [args.domain], "batch_size": 10000}
    selected = args.messages // 10

    instance = live_postfix.configure_default()
    instance.start()
    fill(instance, args.messages, args.domain)

    def restore():
        instance.postsuper("-H", "ALL", "hold")
        counts = instance.by_queue()
        assert counts == {"deferred": args.messages}, counts

    with frozen(instance, args.keep):
        handle, args_file = tempfile.mkstemp(suffix=".json")
        with os.fdopen(handle, "w") as out:
            json.dump({"ANSIBLE_MODULE_ARGS": module_args}, out)
        handle, all_args_file = tempfile.mkstemp(suffix=".json")
        with os.fdopen(handle, "w") as out:   # the module alone holding every message: its peak memory
            json.dump({"ANSIBLE_MODULE_ARGS": {"action": "hold", "queues": ["deferred"], "batch_size": 10000,
                                               "return_ids": False}}, out)
        interpreter = "ansible_python_interpreter=%s" % python
        jq_filter = '[.recipients[].address | endswith("@%s")] | any' % args.domain
        all_args = {"action": "hold", "queues": ["deferred"], "batch_size": 10000}

        def ansible_hold(arguments):
            return [ansible, "localhost", "-e", interpreter, "-m", "mailops.postfix.postfix_queue_action",
                    "-a", json.dumps(arguments)]
        commands = {
            "pipeline": ["sh", "-c", "postqueue -j | jq -r 'select(%s) | .queue_id' | postsuper -h - 2>/dev/null"
                         % jq_filter],
            "module": [python, module, args_file],
            "ansible": ansible_hold(module_args),
            "fixed": [ansible, "localhost", "-e", interpreter, "-m", "ansible.builtin.ping"],
            "ansible_all": ansible_hold(all_args),
            "ansible_noids": ansible_hold(dict(module_args, return_ids=False)),
            "ansible_all_noids": ansible_hold(dict(all_args, return_ids=False)),
            "module_all_noids": [python, module, all_args_file],
            "pipeline_all": ["sh", "-c", "postqueue -j | jq -r '.queue_id' | postsuper -h - 2>/dev/null"],
            # the whole queue without naming IDs: what the module runs for a hold of whole queues
            "postsuper_all": ["sh", "-c", "postsuper -h ALL deferred 2>/dev/null"],
            # every message, each ID named: a count guard makes the hold one that is not of whole queues
            "ansible_named_all": ansible_hold(dict(all_args, max_messages=args.messages)),
            "ansible_named_all_noids": ansible_hold(dict(all_args, max_messages=args.messages, return_ids=False)),
        }
        expected_held = dict((name, args.messages if "_all" in name else selected) for name in commands)
        peaks = dict((name, []) for name in commands)
        restore()
        result = json.loads(subprocess.run(commands["module"], stdout=subprocess.PIPE, env=env, check=True).stdout)
        assert result["changed_count"] == selected, result.get("msg", result["changed_count"])
        restore()
        samples = dict((name, []) for name in commands)
        for round_number in range(args.rounds):
            for name, argv in commands.items():
                elapsed, peak = timed(argv, env=env)
                samples[name].append(elapsed)
                peaks[name].append(peak)
                if name != "fixed":
                    held = instance.by_queue().get("hold", 0)
                    assert held == expected_held[name], (name, held)
                    restore()
            print("round %d: %s" % (round_number + 1, ", ".join("%s %.2fs" % (n, samples[n][-1]) for n in commands)))
        # acting alone: every selected ID to one postsuper -h - (what the module's batches do) ...
        chosen = [m["queue_id"] for m in instance.queue()
                  if any(r["address"].endswith("@" + args.domain) for r in m["recipients"])]
        start = time.perf_counter()
        subprocess.run(["postsuper", "-h", "-"], input="".join(i + "\n" for i in chosen).encode(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        act_seconds = time.perf_counter() - start
        restore()
        # ... and the classic loop, one postsuper -h ID per message, on a sample
        sample = chosen[:args.loop_sample]
        start = time.perf_counter()
        for queue_id in sample:
            subprocess.run(["postsuper", "-h", queue_id], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True)
        loop_sample_seconds = time.perf_counter() - start
        restore()
        os.unlink(args_file)
        os.unlink(all_args_file)

    med = medians(samples)
    loop_total = loop_sample_seconds * selected / len(sample)
    loop_per_message = loop_sample_seconds / len(sample)
    extra = args.messages - selected
    marginal = (med["ansible_all"] - med["ansible"]) / extra
    marginal_noids = (med["ansible_all_noids"] - med["ansible_noids"]) / extra
    marginal_pipeline = (med["pipeline_all"] - med["pipeline"]) / extra
    marginal_named = (med["ansible_named_all"] - med["ansible"]) / extra
    marginal_named_noids = (med["ansible_named_all_noids"] - med["ansible_noids"]) / extra
    result = {
        "messages": args.messages, "selected": selected, "rounds": args.rounds,
        "median_seconds": med, "loop_sample": len(sample), "loop_sample_seconds": loop_sample_seconds,
        "loop_extrapolated_seconds": loop_total,
        "ratio_module_to_pipeline": med["module"] / med["pipeline"],
        "ratio_ansible_minus_fixed_to_pipeline": (med["ansible"] - med["fixed"]) / med["pipeline"],
        "speedup_over_loop": loop_total / med["module"],
        "act_only_seconds": act_seconds,
        "speedup_of_batched_act_over_loop": loop_total / act_seconds,
        "loop_per_message_seconds": loop_per_message,
        "marginal_per_message_seconds": marginal,
        "marginal_per_message_seconds_noids": marginal_noids,
        "marginal_per_message_seconds_pipeline": marginal_pipeline,
        "marginal_ratio_to_pipeline": marginal / marginal_pipeline,
        "marginal_ratio_to_pipeline_noids": marginal_noids / marginal_pipeline,
        "marginal_per_message_seconds_named": marginal_named,
        "marginal_per_message_seconds_named_noids": marginal_named_noids,
        "marginal_ratio_to_pipeline_named": marginal_named / marginal_pipeline,
        "marginal_ratio_to_pipeline_named_noids": marginal_named_noids / marginal_pipeline,
        "peak_rss_kib": dict((name, max(values)) for name, values in peaks.items()),
    }
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as out:
        json.dump(result, out, indent=2)
    print()
    print("| hold %d of %d deferred messages (by recipient domain), medians of %d | seconds |"
          % (selected, args.messages, args.rounds))
    print("|---|---|")
    print("| `postqueue -j \\| jq select \\| postsuper -h -` | %.2f |" % med["pipeline"])
    print("| module alone | %.2f |" % med["module"])
    print("| `ansible -m postfix_queue_action` | %.2f |" % med["ansible"])
    print("| `ansible -m ping` (fixed per-task cost) | %.2f |" % med["fixed"])
    print("| one `postsuper -h ID` per message: %d took %.2f s, for %d | %.0f (extrapolated) |"
          % (len(sample), loop_sample_seconds, selected, loop_total))
    print()
    print("ratio module / pipeline:                 %.2f" % result["ratio_module_to_pipeline"])
    print("ratio (ansible - fixed) / pipeline:      %.2f" % result["ratio_ansible_minus_fixed_to_pipeline"])
    print("speed-up over the one-per-message loop:  %.0fx (whole module: list, select, act)" % result["speedup_over_loop"])
    print("acting alone: one postsuper -h - with all %d IDs took %.2f s: %.0fx the loop"
          % (selected, act_seconds, result["speedup_of_batched_act_over_loop"]))
    print()
    print("| per extra message held (all %d vs %d) | us | / the raw pipeline's | of the loop's %.2f ms |"
          % (args.messages, selected, loop_per_message * 1000))
    print("|---|---|---|---|")
    print("| raw pipeline (%.2f s / all %.2f s) | %.0f | 1.00 | %.2f%% |" % (
        med["pipeline"], med["pipeline_all"], marginal_pipeline * 1e6, 100 * marginal_pipeline / loop_per_message))
    print("| ansible, whole queue (ALL), IDs returned (%.2f s / all %.2f s) | %.0f | %.2f | %.2f%% |" % (
        med["ansible"], med["ansible_all"], marginal * 1e6, marginal / marginal_pipeline,
        100 * marginal / loop_per_message))
    print("| ansible, whole queue (ALL), return_ids: false (%.2f s / all %.2f s) | %.0f | %.2f | %.2f%% |" % (
        med["ansible_noids"], med["ansible_all_noids"], marginal_noids * 1e6, marginal_noids / marginal_pipeline,
        100 * marginal_noids / loop_per_message))
    print("| ansible, each ID named, IDs returned (%.2f s / all %.2f s) | %.0f | %.2f | %.2f%% |" % (
        med["ansible"], med["ansible_named_all"], marginal_named * 1e6, marginal_named / marginal_pipeline,
        100 * marginal_named / loop_per_message))
    print("| ansible, each ID named, return_ids: false (%.2f s / all %.2f s) | %.0f | %.2f | %.2f%% |" % (
        med["ansible_noids"], med["ansible_named_all_noids"], marginal_named_noids * 1e6,
        marginal_named_noids / marginal_pipeline, 100 * marginal_named_noids / loop_per_message))
    print("| `postsuper -h ALL deferred` alone: %.2f s for all %d (%.0f us each) | | | |" % (
        med["postsuper_all"], args.messages, 1e6 * med["postsuper_all"] / args.messages))
    print()
    print("peak RSS of the module alone: holding %d, %.0f MiB; holding all %d (return_ids false), %.0f MiB"
          % (selected, result["peak_rss_kib"]["module"] / 1024.0, args.messages,
             result["peak_rss_kib"]["module_all_noids"] / 1024.0))


if __name__ == "__main__":
    main()
