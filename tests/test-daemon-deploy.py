#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""deploy/: the kustomize overlays build, keep their security settings, and the alert rules are
valid and fire on a throttled target (promtool check/test rules).

Usage: test-daemon-deploy.py SOURCE_ROOT
Each tool that is missing (kubectl, promtool) skips its part; exit 77 when both are missing.
"""
import os
import shutil
import subprocess
import sys
import tempfile

FAILS = []


def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what)
    if not cond:
        FAILS.append(what)


RULE_TEST = """
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'autoprocs_cpu_periods_total{target="cgroup:/a"}'
        values: '0+600x40'
      - series: 'autoprocs_cpu_throttled_periods_total{target="cgroup:/a"}'
        values: '0+300x40'
      - series: 'autoprocs_cpu_periods_total{target="cgroup:/b"}'
        values: '0+600x40'
      - series: 'autoprocs_cpu_throttled_periods_total{target="cgroup:/b"}'
        values: '0+6x40'
    alert_rule_test:
      - eval_time: 25m
        alertname: AutoprocsCPUThrottlingHigh
        exp_alerts:
          - exp_labels: {severity: warning, target: "cgroup:/a"}
            exp_annotations:
              summary: "cgroup:/a in / is throttled in 50% of its CPU periods"
              description: "The CPU quota is spent before the end of most periods: the workload runs more threads than its limit allows (compare autoprocs_recommended_procs with its GOMAXPROCS / thread pool size) or the limit is too low."
      - eval_time: 25m
        alertname: AutoprocsCPUThrottlingCritical
        exp_alerts: []
"""


def main():
    src = sys.argv[1]
    kdir = os.path.join(src, "deploy", "kubernetes")
    kubectl = shutil.which("kubectl")
    promtool = shutil.which("promtool")
    if not kubectl and not promtool:
        print("# SKIP: neither kubectl nor promtool found")
        return 77
    if kubectl:
        for overlay, needs in [
            ("sidecar", ["restartPolicy: Always", "shareProcessNamespace: true", "--target=comm:app",
                         "readOnlyRootFilesystem: true", "runAsUser: 65532", "kind: PodMonitor",
                         "kind: PrometheusRule", "kind: Service", "drop:\n            - ALL"]),
            ("daemonset", ["kind: DaemonSet", "readOnly: true", "path: /sys/fs/cgroup",
                           "--target=kubepods:/host/sys/fs/cgroup", "--pod-logs=/host/var/log",
                           "path: /var/log/pods", "path: /var/log/containers", "honorLabels: true",
                           "runAsUser: 65532", "namespace: autoprocs-system", "kind: PodMonitor"]),
        ]:
            p = subprocess.run([kubectl, "kustomize", os.path.join(kdir, "overlays", overlay)],
                               capture_output=True, text=True)
            check(p.returncode == 0, f"kubectl kustomize overlays/{overlay}: {p.stderr.strip()}")
            for n in needs:
                check(n in p.stdout, f"overlays/{overlay} has {n!r}")
    else:
        print("# kubectl not found: kustomize build skipped")
    if promtool:
        with open(os.path.join(kdir, "base", "prometheusrule.yaml")) as f:
            body = f.read().split("\nspec:\n", 1)[1]
        rules = "\n".join(l[2:] if l.startswith("  ") else l for l in body.splitlines()) + "\n"
        with tempfile.TemporaryDirectory(prefix="autoprocs-test-rules-") as tmp:
            with open(os.path.join(tmp, "rules.yml"), "w") as f:
                f.write(rules)
            with open(os.path.join(tmp, "test.yml"), "w") as f:
                f.write(RULE_TEST)
            p = subprocess.run([promtool, "check", "rules", "rules.yml"], cwd=tmp, capture_output=True, text=True)
            check(p.returncode == 0, f"promtool check rules: {p.stdout.strip()} {p.stderr.strip()}")
            p = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp, capture_output=True, text=True)
            check(p.returncode == 0, f"promtool test rules (throttling alert fires at 50%, not at 1%): "
                  f"{p.stdout.strip()} {p.stderr.strip()}")
    else:
        print("# promtool not found: rule checks skipped")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
