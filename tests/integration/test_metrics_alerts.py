# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Noticing an incident: queue metrics, alert rules and the alert-driven run, with the real tools.

- The metrics playbook on a lab fleet (a relocated Postfix and a two-instance host among them); Debian's
  prometheus-node-exporter, one per host on loopback, exposes each host's textfile directory; what it serves is
  what postqueue lists, and `promtool check metrics` accepts it. The writer the role installs on each host then
  runs there alone, as its timer would, and the served metrics follow the queue.
- The alert rules (extensions/prometheus) under `promtool test rules`, fed series of the values a real metrics
  file of the lab had.
- Event-Driven Ansible: ansible-rulebook runs the collection's rulebook (extensions/eda) with its built-in webhook;
  an Alertmanager v4 payload posted to it runs the read-only assessment for the alerting host, and the hold only on
  the host whose inventory opts in; without the token nothing runs; the same alert again within the throttle runs
  nothing.
"""

from __future__ import absolute_import, division, print_function

import glob
import json
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml

from live_postfix import wait_for
from lab_fleet import ROOT, fresh_fleet, in_host, lab, make_runbook, postfix, queue_state

pytestmark = pytest.mark.controller_independent

NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
RULES = os.path.join(ROOT, "extensions", "prometheus", "mailops_postfix.rules.yml")
# Per host, in its own (private) directories: the textfile directory and the writer, never the machine's.
TEXTFILE_DIR = "/var/lib/mailops-postfix/node-exporter"
INSTALL_DIR = "/root/mailops-metrics"
EDA_TOKEN = "test-token-of-this-run"


@pytest.fixture(scope="module")
def fleet(lab_session):
    """Five hosts: h02 relocated, h03 long queue IDs, h05 two instances (targets h05 and h05b)."""
    return fresh_fleet(5, junk=20, backscatter=2, legitimate=6, quarantine=3)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as response:
        return response.read().decode("utf-8")


def _samples(text):
    """{(metric name, frozenset of labels): value} of the mailops_postfix_ metrics a scrape served."""
    from prometheus_client.parser import text_string_to_metric_families
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("mailops_postfix_"):
                found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def _queue_counts(samples, instance):
    return dict((dict(labels)["queue"], int(value)) for (name, labels), value in samples.items()
                if name == "mailops_postfix_queue_messages" and dict(labels)["postfix_instance"] == instance)


def _listed_counts(target):
    counts = dict((queue, 0) for queue in ("maildrop", "incoming", "active", "deferred", "hold"))
    for _queue_id, queue in queue_state(target):
        counts[queue] += 1
    return counts


@pytest.fixture(scope="module")
def exporters(fleet):
    """prometheus-node-exporter per host on 127.0.0.1, serving only its textfile collector over the host's own
    textfile directory; {host: port}."""
    hosts = sorted(set(lab.target(target)["host"] for target in fleet))
    procs, ports = [], {}
    try:
        for host in hosts:
            directory = os.path.join(lab.host_dir(host), "state", "node-exporter")
            os.makedirs(directory, exist_ok=True)
            ports[host] = _free_port()
            procs.append(subprocess.Popen(
                [NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % ports[host], "--collector.disable-defaults",
                 "--collector.textfile", "--collector.textfile.directory=" + directory],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for host, port in ports.items():
            wait_for(lambda: _port_open(port), 30, "node_exporter for %s" % host)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()        # our own children, by their PIDs
            proc.wait(timeout=30)


def _port_open(port):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


METRICS_VARS = {"metrics_textfile_dir": TEXTFILE_DIR, "metrics_install_dir": INSTALL_DIR,
                "metrics_command": INSTALL_DIR + "/mailops-postfix-metrics", "metrics_scheduler": "none"}


@pytest.fixture(scope="module")
def installed(fleet, controller, tmp_path_factory):
    """The metrics playbook, run once for the module's tests: every host has its writer and a metrics file."""
    out = make_runbook(controller, tmp_path_factory.mktemp("metrics"))("metrics", **METRICS_VARS)
    assert "failed=0" in out["output"].split("PLAY RECAP")[-1], out["output"][-3000:]
    return out


def test_metrics_equal_the_listing_and_follow_the_queue(fleet, exporters, installed, tmp_path):
    served = {}
    for host, port in exporters.items():
        text = _scrape(port)
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, universal_newlines=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        assert check.returncode == 0, check.stdout
        served[host] = _samples(text)
    for target in fleet:
        entry = lab.target(target)
        samples = served[entry["host"]]
        assert _queue_counts(samples, entry["instance"]) == _listed_counts(target), target
        up = [value for (name, labels), value in samples.items()
              if name == "mailops_postfix_up" and dict(labels)["postfix_instance"] == entry["instance"]]
        assert up == [1.0], (target, up)
    # the two-instance host serves both of its instances
    assert set(dict(labels)["postfix_instance"] for (name, labels) in served["h05"]
               if name == "mailops_postfix_up") == {lab.target("h05")["instance"], lab.target("h05b")["instance"]}
    # the host's own writer, alone (as its timer runs it): h01's deferred mail goes on hold, the metrics follow
    before = _listed_counts("h01")
    postfix("h01", "postsuper", "-h", "ALL", "deferred", stderr=subprocess.DEVNULL)
    assert in_host("h01", INSTALL_DIR + "/mailops-postfix-metrics", check=True).returncode == 0
    after = _queue_counts(_samples(_scrape(exporters["h01"])), "postfix")
    assert after == _listed_counts("h01") and after["hold"] == before["hold"] + before["deferred"], (before, after)
    admin_hold = [value for (name, labels), value in _samples(_scrape(exporters["h01"])).items()
                  if name == "mailops_postfix_hold_messages" and dict(labels)["held_by"] == "admin"]
    assert admin_hold == [after["hold"]]
    postfix("h01", "postsuper", "-H", "ALL", stderr=subprocess.DEVNULL)
    # the relocated host's writer finds its Postfix where the inventory says, not on PATH
    assert in_host("h02", INSTALL_DIR + "/mailops-postfix-metrics", check=True).returncode == 0
    (tmp_path / "h01.prom").write_text(_scrape(exporters["h01"]))


def _series(samples, host):
    """promtool input series for one host: the real values of its metrics file, as a scrape labels them."""
    lines = []
    for (name, labels), value in sorted(samples.items(), key=lambda item: (item[0][0], sorted(item[0][1]))):
        if name.endswith("_timestamp_seconds"):
            continue
        labels = dict(labels, instance="%s:9100" % host, job="node")
        text = ",".join('%s="%s"' % (key, labels[key]) for key in sorted(labels))
        lines.append({"series": "%s{%s}" % (name, text), "values": "%sx40" % int(value)})
    return lines


def test_alert_rules_fire_on_a_real_metrics_file(fleet, exporters, installed, tmp_path):
    """promtool test rules with the series of h01's real metrics, plus what the alerts look at, grown past
    their thresholds: each alert fires with mailops_host set to the host (its instance label without the port)."""
    in_host("h01", INSTALL_DIR + "/mailops-postfix-metrics", check=True)     # the queue as it is now
    samples = _samples(_scrape(exporters["h01"]))
    real = _series(samples, "h01")
    deferred = _queue_counts(samples, "postfix")["deferred"]
    assert deferred > 0
    base = 'instance="h01:9100",job="node",postfix_instance="postfix"'
    grown = [
        # the queue grows by 1,100 deferred messages at minute 20, from the real count (the rule compares with 15
        # minutes before, which exists from minute 15 on): pending from minute 20, firing from minute 25
        {"series": 'mailops_postfix_queue_messages{%s,queue="deferred"}' % base,
         "values": "%d+0x19 %d+0x20" % (deferred, deferred + 1100)},
        {"series": 'mailops_postfix_hold_messages{held_by="admin",%s}' % base, "values": "150x40"},
        {"series": 'mailops_postfix_incident_window_open{%s}' % base, "values": "1x40"},
        # promtool's clock starts at 0: the window opened 3,000 s before it, and is over an hour old from minute 10
        {"series": 'mailops_postfix_incident_window_opened_timestamp_seconds{%s}' % base, "values": "-3000x40"},
    ]
    kept = [s for s in real if not any(s["series"].split("{", 1)[0] == g["series"].split("{", 1)[0]
                                       and ("queue=\"deferred\"" in s["series"]) == ("queue=\"deferred\"" in g["series"])
                                       for g in grown)]
    tests = {"rule_files": [RULES], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": kept + grown,
        "alert_rule_test": [
            {"eval_time": "30m", "alertname": "MailopsPostfixQueueGrowing", "exp_alerts": [{
                "exp_labels": {"severity": "warning", "mailops_host": "h01", "instance": "h01:9100",
                               "postfix_instance": "postfix"},
                "exp_annotations": {
                    "summary": "The queue of postfix on h01:9100 grew by 1100 messages in 15 minutes",
                    "description": "A spam wave or a delivery problem: assess it (mailops.postfix.report) and see who "
                                   "is sending."}}]},
            {"eval_time": "15m", "alertname": "MailopsPostfixHoldHigh", "exp_alerts": [{
                "exp_labels": {"severity": "warning", "mailops_host": "h01", "instance": "h01:9100",
                               "postfix_instance": "postfix", "held_by": "admin", "job": "node"},
                "exp_annotations": {"summary": "150 messages on hold on h01:9100 (postfix), not by an incident"}}]},
            {"eval_time": "20m", "alertname": "MailopsPostfixIncidentWindowOpenTooLong", "exp_alerts": [{
                "exp_labels": {"severity": "critical", "mailops_host": "h01", "instance": "h01:9100",
                               "postfix_instance": "postfix", "job": "node"},
                "exp_annotations": {
                    "summary": "An incident window has held every new message on h01:9100 (postfix) for over an hour",
                    "description": "Finish the runbook, or end the window alone: ansible-playbook "
                                   "mailops.postfix.end_window -l HOST"}}]},
            # the real file's own values raise nothing (the lab's queue is small, its writer is fresh)
            {"eval_time": "10m", "alertname": "MailopsPostfixDeferredHigh", "exp_alerts": []},
            {"eval_time": "10m", "alertname": "MailopsPostfixQueueUnlisted", "exp_alerts": []},
        ]}]}
    path = tmp_path / "rules_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    out = subprocess.run([PROMTOOL, "test", "rules", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, check=False)
    assert out.returncode == 0, out.stdout + "\n" + path.read_text()
    check = subprocess.run([PROMTOOL, "check", "rules", RULES], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, check=False)
    assert check.returncode == 0 and "8 rules found" in check.stdout, check.stdout


def _alertmanager_payload(alerts):
    """What Alertmanager posts to a webhook receiver (version 4)."""
    return {"receiver": "mailops-eda", "status": "firing", "version": "4", "groupKey": "{}:{alertname=~\"Mailops.*\"}",
            "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": [{"status": status, "labels": dict(labels, mailops_host=host, instance=host + ":9100",
                                                         postfix_instance="postfix", severity="warning"),
                        "annotations": {"summary": "a test alert for %s" % host},
                        "startsAt": "2026-12-05T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://prometheus.example:9090/graph", "fingerprint": "%s-%s" % (host, name)}
                       for host, name, status, labels in alerts]}


def _post(port, payload, token):
    request = urllib.request.Request("http://127.0.0.1:%d/endpoint" % port, data=json.dumps(payload).encode(),
                                     headers=dict({"Content-Type": "application/json"},
                                                  **({"Authorization": "Bearer " + token} if token else {})))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _log(tmp_path):
    with open(str(tmp_path / "rulebook.log")) as handle:
        return handle.read()


def _recaps(tmp_path):
    """How many alert-driven runs have ended (ansible-rulebook prints each run's output)."""
    return _log(tmp_path).count("PLAY RECAP")


def test_an_alert_runs_the_assessment_and_the_hold_only_where_opted_in(fleet, controller, tmp_path):
    eda = os.path.join(os.environ.get("MAILOPS_VENVS", os.path.join(ROOT, ".venv")), "eda", "bin", "ansible-rulebook")
    assert os.path.exists(eda), eda
    with open(os.path.join(lab.STATE, "inventory.yml")) as handle:
        inventory = yaml.safe_load(handle)
    inventory["all"]["children"]["mailhosts"]["hosts"]["h02"]["mailops_eda_hold"] = True
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    port = _free_port()
    reports = tmp_path / "reports"
    (tmp_path / "vars.yml").write_text(yaml.safe_dump({"mailops_eda_token": EDA_TOKEN, "mailops_eda_port": port,
                                                      "mailops_eda_report_dir": str(reports)}))
    untouched_h01, untouched_h03 = queue_state("h01"), queue_state("h03")
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False",
               PATH=os.pathsep.join([controller["bin"], os.path.dirname(eda), os.environ["PATH"]]))
    log = open(str(tmp_path / "rulebook.log"), "w")
    proc = subprocess.Popen([eda, "-r", "mailops.postfix.queue_alert", "-i", str(tmp_path / "inventory.yml"),
                             "--vars", str(tmp_path / "vars.yml")], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: _port_open(port) or proc.poll() is not None, 120, "ansible-rulebook's webhook",
                 lambda: _log(tmp_path)[-3000:])
        assert proc.poll() is None, _log(tmp_path)[-3000:]
        firing = _alertmanager_payload([("h01", "MailopsPostfixHoldHigh", "firing", {"alertname": "MailopsPostfixHoldHigh"}),
                                        ("h02", "MailopsPostfixQueueGrowing", "firing",
                                         {"alertname": "MailopsPostfixQueueGrowing"}),
                                        ("h03", "MailopsPostfixQueueGrowing", "resolved",
                                         {"alertname": "MailopsPostfixQueueGrowing"}),
                                        ("h03", "SomethingElse", "firing", {"alertname": "SomethingElse"})])
        # without the token: refused, nothing runs
        assert _post(port, firing, None) == 401 and _post(port, firing, "wrong") == 401
        assert _post(port, firing, EDA_TOKEN) == 200
        wait_for(lambda: _recaps(tmp_path) == 2, 600, "the two alert-driven runs", lambda: _log(tmp_path)[-5000:])
        # the same alerts again, within the throttle, then another alert: the engine takes events in order, so once
        # the last one's run is over the repeated ones were evaluated - and started nothing
        assert _post(port, firing, EDA_TOKEN) == 200
        assert _post(port, _alertmanager_payload([("h03", "MailopsPostfixDeferredHigh", "firing",
                                                   {"alertname": "MailopsPostfixDeferredHigh"})]), EDA_TOKEN) == 200
        wait_for(lambda: _recaps(tmp_path) == 3, 600, "the third alert's run", lambda: _log(tmp_path)[-5000:])
    finally:
        proc.terminate()            # our own child, by its PID
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    output = _log(tmp_path)
    made = sorted(os.path.basename(os.path.dirname(path)) for path in glob.glob(str(reports / "*" / "report.json")))
    assert [name.rsplit("-", 1)[0] for name in made] == [
        "MailopsPostfixDeferredHigh", "MailopsPostfixHoldHigh", "MailopsPostfixQueueGrowing"], made
    by_alert = {}
    for name in made:
        with open(str(reports / name / "report.json")) as handle:
            by_alert[name.rsplit("-", 1)[0]] = json.load(handle)
        assert oct(os.stat(str(reports / name)).st_mode & 0o777) == "0o700"
    # each run was limited to its alert's host, and assessed it (who is sending included)
    assert list(by_alert["MailopsPostfixHoldHigh"]["hosts"]) == ["h01"]
    assert list(by_alert["MailopsPostfixQueueGrowing"]["hosts"]) == ["h02"]
    assert by_alert["MailopsPostfixHoldHigh"]["hosts"]["h01"]["origins"]["read"] > 0
    # h01 is not opted in: its queue is as it was; h02 is: everything but its earlier hold is held in a window
    assert queue_state("h01") == untouched_h01 and queue_state("h03") == untouched_h03
    h02 = queue_state("h02")
    assert h02 and all(queue == "hold" for _queue_id, queue in h02), h02
    assert "mailops_incident_window" in postfix("h02", "postconf", "-h", "header_checks").stdout
    assert output.count("PLAY RECAP") == 3, output[-5000:]
