# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Change-managed runs where users run them, on the real engines, against the lab fleet.

- ansible-runner (the engine of every AWX/AAP job), through its Python API with process isolation off:
  the plan job and the apply job in two separate private data directories - a fresh "controller" each,
  sharing nothing but the plan's ID; a wrong ID and a stale plan change nothing.
- AWX job slicing: two runs over disjoint slices in parallel (--limit), their reports merged: the slices' sums,
  and what the ground truth says of every instance.
- The GitLab pipeline shipped in examples/ci, run by gitlab-ci-local (jobs without an image run in the
  host shell; the manual apply job with --manual).
- The sample execution environment, rendered by ansible-builder create (no container engine here).
ansible-runner, ansible-builder and gitlab-ci-local are installed with the 2.21 controller: these run there.
"""

from __future__ import absolute_import, division, print_function

import glob
import json
import os
import shutil
import subprocess
import threading

import pytest
import yaml

import browser

from lab_fleet import LAB, ROOT, fresh_fleet, lab, postfix, truth_of, untouched

pytestmark = pytest.mark.controller_independent

JUNK, BACKSCATTER, LEGIT, QUARANTINE = 20, 2, 8, 3
INCIDENT_VARS = os.path.join(LAB, "incident-vars.yml")


def incident(**extra):
    with open(INCIDENT_VARS) as handle:
        variables = yaml.safe_load(handle)
    variables.update(fix_tasks_file=os.path.join(LAB, "fix-relay.yml"), mailops_hosts="mailhosts", report_print=False)
    variables.update(extra)
    return variables


def runner_job(controller, tmp_path, name, playbook, extravars, limit=None):
    """One job as AWX runs it: ansible-runner, its own private data directory - the sample AWX project's playbooks
    in project/, the inventory - and nothing shared with another job but what is passed to it."""
    import ansible_runner
    private = tmp_path / name
    (private / "inventory").mkdir(parents=True)
    shutil.copytree(os.path.join(ROOT, "examples", "awx", "playbooks"), str(private / "project"))
    shutil.copy(os.path.join(lab.STATE, "inventory.yml"), str(private / "inventory" / "hosts.yml"))
    env = {"ANSIBLE_COLLECTIONS_PATH": os.environ["ANSIBLE_COLLECTIONS_PATH"], "LANG": "C.UTF-8",
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_DEPRECATION_WARNINGS": "False",
           "PATH": controller["bin"] + os.pathsep + os.environ["PATH"]}
    run = ansible_runner.run(private_data_dir=str(private), playbook=playbook, extravars=extravars,
                             envvars=env, limit=limit, process_isolation=False, quiet=True,
                             timeout=600)
    stats = [event for event in run.events if event.get("event") == "playbook_on_stats"]
    artifacts = stats[-1]["event_data"].get("artifact_data") or {} if stats else {}
    output = run.stdout.read()
    return run, artifacts, output


def kept_plans(target, plan_id):
    entry = lab.target(target)
    return os.path.join(lab.host_dir(entry["host"]), "state", entry["instance"], "plans", plan_id + ".json")


@pytest.fixture
def fleet(lab_session):
    return fresh_fleet(3, JUNK, BACKSCATTER, LEGIT, QUARANTINE)


def private_documents(directory, names):
    """The documents NAMES are in DIRECTORY, each mode 0600, the directory 0700: they name senders and logins."""
    assert os.stat(directory).st_mode & 0o777 == 0o700, directory
    assert set(names) <= set(os.listdir(directory)), (names, os.listdir(directory))
    for name in os.listdir(directory):
        assert os.stat(os.path.join(directory, name)).st_mode & 0o777 == 0o600, name


def test_plan_and_apply_in_separate_jobs_through_ansible_runner(fleet, controller, tmp_path):
    before = untouched(fleet)
    run, artifacts, output = runner_job(controller, tmp_path, "plan-job", "plan.yml", incident(
        mailops_report_dir=str(tmp_path / "plan-report")))
    assert run.status == "successful" and run.rc == 0, output[-5000:]
    plan = artifacts["mailops_plan"]
    assert untouched(fleet) == before, "the plan job changed something"
    assert plan["totals"]["purge"] == len(fleet) * (JUNK + BACKSCATTER)
    assert plan["totals"]["requeue"] == len(fleet) * LEGIT and plan["totals"]["quarantine"] == len(fleet) * QUARANTINE
    assert sorted(plan["hosts"]) == fleet and "held as it arrives" in plan["window_rule"]
    with open(str(tmp_path / "plan-report" / "plan.json")) as handle:
        written = json.load(handle)
    assert written["plan_id"] == plan["id"]
    private_documents(str(tmp_path / "plan-report"), ["plan.html", "plan.json", "plan.md"])
    for target in fleet:
        assert oct(os.stat(kept_plans(target, plan["id"])).st_mode & 0o777) == "0o600"
    # between plan and apply, the admin deletes one planned junk message on h01: the apply skips it
    planned = written["hosts"]["h01"]["purge"]["plan"]["messages"]
    gone = planned[0]["queue_id"]
    postfix("h01", "postsuper", "-d", gone, stderr=subprocess.DEVNULL)
    before = untouched(fleet)

    # a wrong ID, from a fresh controller: refused everywhere, nothing changes
    run, _artifacts, output = runner_job(controller, tmp_path, "wrong-id-job", "apply.yml",
                                         {"mailops_mode": "apply", "mailops_plan_id": "0123456789abcdef0123456789abcdef"})
    assert run.status == "failed" and "no plan 0123456789abcdef0123456789abcdef is kept on h01" in output, output[-3000:]
    assert untouched(fleet) == before
    # inputs given to the apply that differ from the approved ones: refused, nothing changes
    run, _artifacts, output = runner_job(controller, tmp_path, "overridden-job", "apply.yml", {
        "mailops_mode": "apply", "mailops_plan": {"id": plan["id"]}, "fix_block_senders": ["someone@example.org"]})
    assert run.status == "failed" and "fix_block_senders: given to this" in output.replace("\n", " "), output[-3000:]
    assert untouched(fleet) == before

    # the apply job: a fresh private data directory, given only the plan (the artifact, as an AWX workflow passes it)
    run, artifacts, output = runner_job(controller, tmp_path, "apply-job", "apply.yml", {
        "mailops_plan": {"id": plan["id"]}, "report_print": False,
        "mailops_report_dir": str(tmp_path / "apply-report")})
    assert run.status == "successful" and run.rc == 0, output[-5000:]
    report = artifacts["mailops_report"]
    assert report["host_status"] == {"verified": len(fleet)}, report
    assert report["total"]["phases"]["purged"] == len(fleet) * (JUNK + BACKSCATTER) - 1
    assert report["hosts"]["h01"]["phases"]["skipped_changed"] == 1
    # exactly the plan was purged: the archives hold the planned messages, the deleted one aside
    for target in fleet:
        entry = lab.target(target)
        archived = set()
        for manifest in glob.glob(os.path.join(lab.host_dir(entry["host"]), "backups", "mailops-postfix", "*",
                                               entry["instance"], "*", "manifest.json")):
            with open(manifest) as handle:
                archived.update(message["queue_id"] for message in json.load(handle)["messages"])
        expected = set(m["queue_id"] for m in written["hosts"][target]["purge"]["plan"]["messages"]) - {gone}
        assert archived == expected, target
    # every message as the ground truth expects - but the one the admin deleted by hand, without an archive
    with open(os.path.join(lab.STATE, "truth", "h01.json")) as handle:
        gone_kind, gone_id = [(m["kind"], m["message_id"]) for m in json.load(handle)["messages"] if m["queue_id"] == gone][0]
    assert gone_kind in ("junk", "backscatter")
    for target, result in truth_of(fleet).items():
        expected = ["%s %s was deleted without an archive" % (gone_kind, gone_id)] if target == "h01" else []
        assert result["problems"] == expected, (target, result["problems"][:5])
    # the apply never waited for input: it ended by itself under ansible-runner's pexpect, no task asked for any
    # (not every runner event has event_data: a verbose line or the end of the output has none)
    assert not any((event.get("event_data") or {}).get("task_action") in ("pause", "ansible.builtin.pause")
                   for event in run.events)


def test_a_host_cannot_rewrite_the_approved_plan(fleet, runbook):
    """The apply run uses nothing a host hands back unless it hashes to the approved ID and is that host's own part:
    a part edited on h01, one with a key no plan has, or h02's part copied over h01's are refused - on every host,
    before anything changes."""
    made = runbook("cleanup", mailops_mode="plan")
    with open(os.path.join(made["report_dir"], "plan.json")) as handle:
        plan = json.load(handle)
    plan_id = plan["plan_id"]
    # the plan for its approver, in a real browser: no request, its ID and per-host counts shown
    seen = browser.render(os.path.join(made["report_dir"], "plan.html"))
    assert seen["requests"] == [] and seen["csp"] == [] and plan_id in seen["dom"], (seen["requests"], seen["csp"])
    table = [t for t in browser.tables(seen["dom"]) if t["caption"] == "What the run will do on each host"][0]
    assert table["header"][5:8] == ["hold", "purge", "requeue"], table["header"]
    assert dict((row[0], row[5:8]) for row in table["rows"]) == dict(
        (target, [str(plan["hosts"][target][phase]["count"]) for phase in ("hold", "purge", "requeue")])
        for target in fleet), table
    browser.snapshot(os.path.join(made["report_dir"], "plan.html"), "plan")
    path = kept_plans("h01", plan_id)
    with open(path) as handle:
        original = handle.read()
    kept = json.loads(original)
    edited = json.loads(original)
    edited["header"]["inputs"]["purge_max_messages"] = 1000000
    extra_key = json.loads(original)
    extra_key["header"]["ansible_connection"] = "local"
    with open(kept_plans("h02", plan_id)) as handle:
        copied = handle.read()
    cases = [
        (json.dumps(edited), "the plan kept on h01 under %s hashes to" % plan_id),
        (json.dumps(extra_key), "has keys no plan has (ansible_connection): it was altered"),
        (copied, "the part kept on h01 is not h01's part of plan %s (made for h02)" % plan_id),
    ]
    assert kept["part"]["host"] == "h01"
    before = untouched(fleet)
    try:
        for text, words in cases:
            with open(path, "w") as handle:
                handle.write(text)
            out = runbook("cleanup", expect_rc=2, mailops_mode="apply", mailops_plan_id=plan_id)
            assert words in " ".join(out["output"].split()), (words, out["output"][-4000:])
            assert untouched(fleet) == before, words
            assert all(out["recap"][target]["changed"] == 0 for target in fleet), (words, out["recap"])
    finally:
        with open(path, "w") as handle:
            handle.write(original)
    # the part as approved: the apply runs
    out = runbook("cleanup", mailops_mode="apply", mailops_plan_id=plan_id)
    assert out["report"]["host_status"] == {"verified": len(fleet)}, out["report"]["host_status"]


def test_a_stale_plan_changes_nothing(fleet, controller, tmp_path):
    run, artifacts, output = runner_job(controller, tmp_path, "plan-job", "plan.yml", incident(mailops_mode="plan"))
    assert run.status == "successful", output[-3000:]
    before = untouched(fleet)
    # a plan older than mailops_plan_max_age (one second; the plan job took longer than that to finish)
    run, _artifacts, output = runner_job(controller, tmp_path, "apply-job", "apply.yml", {
        "mailops_plan_id": artifacts["mailops_plan"]["id"], "mailops_plan_max_age": "1s"})
    assert run.status == "failed" and "is stale - make a new plan" in output.replace("\n", " "), output[-3000:]
    assert untouched(fleet) == before


def test_sliced_runs_merge_to_the_unsliced_counts(lab_session, runbook, tmp_path):
    """AWX job slicing: disjoint slices in parallel, one merged report - the same counts as one unsliced run."""
    fleet = fresh_fleet(5, JUNK, BACKSCATTER, LEGIT, QUARANTINE)
    slices = [",".join(fleet[:3]), ",".join(fleet[3:])]
    results = {}

    def run_slice(index, limit):
        results[index] = runbook("cleanup", _limit=limit, mailops_hosts="mailhosts")
    threads = [threading.Thread(target=run_slice, args=(index, limit)) for index, limit in enumerate(slices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1]
    merged_dir = str(tmp_path / "merged")
    runbook("report_merge", mailops_report_dir=merged_dir, mailops_report_files=[
        os.path.join(results[index]["report_dir"], "report.json") for index in (0, 1)])
    private_documents(merged_dir, ["report.html", "report.json", "report.junit.xml", "report.md"])
    with open(os.path.join(merged_dir, "report.json")) as handle:
        merged = json.load(handle)
    # the merged report counts what one unsliced run counts: the slices' sums, and what the ground truth says every
    # instance held (the incident's counts are fixed: every junk and backscatter message purged, all legitimate
    # mail delivered, the earlier hold left)
    assert merged["host_status"] == {"verified": len(fleet)}
    slices = [results[index]["report"] for index in (0, 1)]
    for key in ("held", "purged", "archived", "requeued", "delivered", "remaining", "junk_before", "on_hold_before"):
        assert merged["total"]["phases"][key] == sum(report["total"]["phases"][key] for report in slices), key
    assert merged["total"]["before"]["total"] == sum(report["total"]["before"]["total"] for report in slices)
    assert merged["total"]["phases"]["purged"] == len(fleet) * (JUNK + BACKSCATTER)
    assert merged["total"]["phases"]["on_hold_before"] == len(fleet) * QUARANTINE
    assert sorted(merged["hosts"]) == sorted(fleet)
    for target, result in truth_of(fleet).items():
        assert result["ok"], (target, result["problems"][:5])
        assert result["figures"]["delivered"] == LEGIT and result["figures"]["archived"] == JUNK + BACKSCATTER
    assert merged["slices"] == 2


def test_the_gitlab_pipeline_with_gitlab_ci_local(fleet, controller, tmp_path):
    """report -> plan -> manual apply -> verify, the plan's ID passed as a dotenv artifact, against the lab."""
    gitlab_ci_local = os.path.join(os.environ.get("MAILOPS_VENVS", os.path.join(ROOT, ".venv")), "npm", "node_modules",
                                   ".bin", "gitlab-ci-local")
    repo = tmp_path / "incident-repo"
    repo.mkdir()
    shutil.copy(os.path.join(ROOT, "examples", "ci", "gitlab-ci.yml"), str(repo / ".gitlab-ci.yml"))
    shutil.copy(os.path.join(lab.STATE, "inventory.yml"), str(repo / "inventory.yml"))
    with open(str(repo / "incident.yml"), "w") as handle:
        yaml.safe_dump(incident(), handle)
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.org"]
    for argv in (["init", "-q", "-b", "main"], ["config", "user.name", "ci"], ["config", "user.email", "ci@example.org"],
                 ["remote", "add", "origin", "https://gitlab.example.org/mail/incident.git"],
                 ["add", "-A"], ["commit", "-qm", "the incident"]):
        subprocess.run(git + argv, cwd=str(repo), check=True)
    env = dict(os.environ, PATH=controller["bin"] + os.pathsep + os.environ["PATH"], HOME=str(tmp_path), LANG="C.UTF-8")
    proc = subprocess.run([gitlab_ci_local, "--manual", "apply", "--color=false", "--shell-executor-no-image",
                           "--home", str(tmp_path / "gcl-home")], cwd=str(repo), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:]
    with open(str(repo / "reports" / "plan" / "plan.json")) as handle:
        plan = json.load(handle)
    with open(str(repo / "reports" / "apply" / "report.json")) as handle:
        applied = json.load(handle)
    assert set(entry.get("plan_id") for entry in applied["hosts"].values()) == {plan["plan_id"]}
    assert applied["host_status"] == {"verified": len(fleet)}
    with open(str(repo / "reports" / "after" / "report.json")) as handle:
        assert json.load(handle)["host_status"] == {"unaffected": len(fleet)}
    for job in ("report", "plan", "apply", "verify"):
        assert "%s" % job in proc.stdout
    for target, result in truth_of(fleet).items():
        assert result["ok"], (target, result["problems"][:5])


def test_the_execution_environment_renders(controller, tmp_path):
    """ansible-builder create on the sample EE (no container engine needed): the Containerfile and its context."""
    context = tmp_path / "context"
    builder = os.path.join(controller["bin"], "ansible-builder")
    proc = subprocess.run([builder, "create", "-f", os.path.join(ROOT, "examples", "awx", "execution-environment.yml"),
                           "--context", str(context), "--output-filename", "Containerfile"], cwd=os.path.join(ROOT, "examples", "awx"),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout
    with open(str(context / "Containerfile")) as handle:
        containerfile = handle.read()
    assert "quay.io/ansible/awx-ee" in containerfile and "ansible-galaxy" in containerfile
    assert os.path.exists(str(context / "_build" / "requirements.yml"))
    # the collection's own EE requirements (meta/execution-environment.yml) are what ansible-builder finds in it
    proc = subprocess.run([builder, "introspect", "--sanitize", os.environ["ANSIBLE_COLLECTIONS_PATH"]],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0 and "paramiko" in proc.stdout and "openssh-client" in proc.stdout, proc.stdout
