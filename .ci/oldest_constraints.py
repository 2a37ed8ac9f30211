"""Print pip constraints pinning each declared dependency to its lower bound.

``numpy>=1.23`` becomes ``numpy==1.23.*`` (the oldest minor series the bound
allows; its patch releases are the ones with wheels for current Pythons).
torch is left out: CI installs the CPU build it pins first.
"""

import re
import sys

import tomllib

SKIP = {"torch"}


def oldest(requirements):
    pins = []
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9._-]+)\s*>=\s*([0-9.]+)\s*", requirement)
        if match is None:
            raise SystemExit(f"cannot read a lower bound from {requirement!r}")
        name, version = match.groups()
        if name.lower() not in SKIP:
            pins.append(f"{name}=={version}.*")
    return pins


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        project = tomllib.load(f)["project"]
    print("\n".join(oldest(project["dependencies"])))
