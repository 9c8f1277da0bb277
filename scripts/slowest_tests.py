"""Prints the slowest tests of one or more pytest JUnit XML files (`--junitxml`).

python scripts/slowest_tests.py .test-results/*.xml --top 25
"""

import argparse
import pathlib
import xml.etree.ElementTree as ET


def slowest(paths, top: int) -> list:
    """`(seconds, file stem, test id)` of the `top` slowest test cases across `paths`."""
    rows = []
    for path in paths:
        for case in ET.parse(path).getroot().iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            rows.append((float(case.get("time", 0.0)), pathlib.Path(path).stem, name))
    return sorted(rows, reverse=True)[:top]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    paths = [p for p in args.paths if pathlib.Path(p).is_file()]
    for seconds, run, name in slowest(paths, args.top):
        print(f"{seconds:8.2f} s  {run:18s} {name}")


if __name__ == "__main__":
    main()
