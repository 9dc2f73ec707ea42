#!/usr/bin/python3
"""After ctest: every skipped GoogleTest test with its reason, and the slowest tests, from build/test-results/*.xml.

    /usr/bin/python3 scripts/test_report.py [BUILD_DIR] [--slowest N]

Each GoogleTest ctest entry writes NAME.xml there (tests/CMakeLists.txt, nos_gtest); a module's entry prints only
"Passed" under --gtest_brief=1, so a test that skipped (no GPU, no MPI, no nvcc ...) is named here instead.
"""
import glob
import os
import sys
import xml.etree.ElementTree as ET


def main():
    args = sys.argv[1:]
    slowest = 10
    if "--slowest" in args:
        i = args.index("--slowest")
        slowest = int(args[i + 1])
        del args[i:i + 2]
    build = args[0] if args else "build"
    files = sorted(glob.glob(os.path.join(build, "test-results", "*.xml")))
    if not files:
        print(f"test_report: no results in {build}/test-results (run ctest first)")
        return 0
    skipped, times, total = [], [], 0
    for path in files:
        entry = os.path.splitext(os.path.basename(path))[0]
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            print(f"test_report: {path} cannot be read ({e}): did its ctest entry crash?")
            continue
        for case in root.iter("testcase"):
            total += 1
            name = f"{case.get('classname')}.{case.get('name')}"
            times.append((float(case.get("time", "0")), entry, name))
            skip = case.find("skipped")
            if skip is not None or case.get("result") == "skipped":
                reason = (skip.get("message") if skip is not None else "") or ""
                # GoogleTest puts the file:line before the message: keep the message.
                reason = reason.strip().splitlines()[-1] if reason.strip() else "no reason given"
                skipped.append((entry, name, reason))
    print(f"test_report: {total} tests in {len(files)} GoogleTest entries, {len(skipped)} skipped")
    for entry, name, reason in skipped:
        print(f"  skipped [{entry}] {name}: {reason}")
    if slowest > 0:
        print(f"slowest {min(slowest, len(times))}:")
        for seconds, entry, name in sorted(times, reverse=True)[:slowest]:
            print(f"  {seconds:7.1f} s  [{entry}] {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
