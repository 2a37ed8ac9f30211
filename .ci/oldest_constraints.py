"""Print pip constraints pinning each declared dependency to its lower bound.

``numpy>=1.23`` becomes ``numpy==1.23.*`` (the oldest minor series the bound
allows; its patch releases are the ones with wheels for current Pythons).
torch is left out: CI installs the CPU build it pins first.

With ``--test-requirements``, print instead what the oldest-versions run
installs besides skvae: the ``test`` extra without the packages of the
extras in :data:`NEWER_THAN_CORE`, which need newer versions of the core
dependencies than their lower bounds (their tests and doctests skip).
"""

import re
import sys

import tomllib

SKIP = {"torch"}

#: extras that cannot be installed at the core's lower bounds, and why
NEWER_THAN_CORE = {
    # every imbalanced-learn that works with scikit-learn>=1.6 (0.13 on)
    # needs numpy>=1.24.3 and scipy>=1.10.1 (0.14: numpy>=1.25.2, scipy>=1.11.4)
    "imbalanced": "imbalanced-learn needs numpy>=1.24.3 and scipy>=1.10.1",
}


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


def test_requirements(extras):
    """The ``test`` extra minus the packages of :data:`NEWER_THAN_CORE`."""
    newer = {req for extra in NEWER_THAN_CORE for req in extras[extra]}
    return [req for req in extras["test"] if req not in newer]


if __name__ == "__main__":
    with open(sys.argv[-1], "rb") as f:
        project = tomllib.load(f)["project"]
    if "--test-requirements" in sys.argv[1:-1]:
        print("\n".join(test_requirements(project["optional-dependencies"])))
    else:
        print("\n".join(oldest(project["dependencies"])))
