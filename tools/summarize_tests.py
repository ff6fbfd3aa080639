#!/usr/bin/env python3
"""Prints one verdict for every test Kiln ran, from JUnit XML reports.

Reads Bazel's per-target test.xml files (GoogleTest cases) and pytest's JUnit
reports, lists failures and skips (each skip with its reason), and ends with
the line `N passed, N failed[, N skipped]`. Exits non-zero when anything failed
or when no test ran at all.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import xml.etree.ElementTree as ET


def classify(case: ET.Element) -> tuple[str, str]:
    """Returns (verdict, reason) for one <testcase>."""
    for tag in ("failure", "error"):
        node = case.find(tag)
        if node is not None:
            text = node.get("message") or (node.text or "").strip()
            return "failed", text.splitlines()[0] if text else tag
    skipped = case.find("skipped")
    if skipped is not None or case.get("result") == "skipped":
        reason = ""
        if skipped is not None:
            reason = skipped.get("message") or (skipped.text or "").strip()
        return "skipped", reason.splitlines()[0] if reason else "no reason given"
    if case.get("status") == "notrun":
        return "skipped", "disabled"
    return "passed", ""


def read_report(path: pathlib.Path, label: str):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        yield label, "failed", f"unreadable test report {path}: {e}"
        return
    cases = list(root.iter("testcase"))
    if not cases:
        # A Bazel test target that crashed before writing cases still counts.
        failures = int(root.get("failures", "0")) + int(root.get("errors", "0"))
        if failures:
            yield label, "failed", "test binary failed without reporting cases"
        return
    for case in cases:
        name = f"{case.get('classname', '')}.{case.get('name', '')}".strip(".")
        verdict, reason = classify(case)
        yield f"{label}::{name}", verdict, reason


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bazel-testlogs", type=pathlib.Path)
    parser.add_argument("--bazel-targets", type=pathlib.Path,
                        help="file listing test labels Bazel was asked to run")
    parser.add_argument("--junit", type=pathlib.Path, action="append",
                        default=[], help="extra JUnit reports (pytest)")
    parser.add_argument("--check", action="append", default=[],
                        help="NAME=passed|failed:reason for non-JUnit checks")
    args = parser.parse_args()

    results: list[tuple[str, str, str]] = []
    for check in args.check:
        name, _, outcome = check.partition("=")
        verdict, _, reason = outcome.partition(":")
        results.append((name, verdict, reason))

    if args.bazel_testlogs and args.bazel_targets:
        for line in args.bazel_targets.read_text().split():
            label = line.strip()
            if not label:
                continue
            rel = label.lstrip("/").replace(":", "/")
            report = args.bazel_testlogs / rel / "test.xml"
            if not report.exists():
                results.append((label, "failed", "no test report (build failure?)"))
                continue
            results.extend(read_report(report, label))
    for report in args.junit:
        if report.exists():
            results.extend(read_report(report, report.stem))
        else:
            results.append((str(report), "failed", "missing report"))

    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for name, verdict, reason in results:
        counts[verdict] = counts.get(verdict, 0) + 1
    for name, verdict, reason in results:
        if verdict == "skipped":
            print(f"SKIPPED {name}: {reason}")
    for name, verdict, reason in results:
        if verdict == "failed":
            print(f"FAILED  {name}: {reason}")
    line = f"{counts['passed']} passed, {counts['failed']} failed"
    if counts["skipped"]:
        line += f", {counts['skipped']} skipped"
    print(line)
    if counts["failed"] or counts["passed"] == 0:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
