"""Print the README's set-up commands, one per line, exactly as written.

They are the ```bash blocks of the "## Set-up" section, in order. CI runs them
verbatim, so the README cannot drift from what is tested.
"""

import re
import sys


def setup_commands(text):
    section = re.search(r"^## Set-up\n(.*?)(?=^## )", text, re.S | re.M)
    if section is None:
        raise SystemExit("README has no '## Set-up' section")
    blocks = re.findall(r"^```bash\n(.*?)^```", section.group(1), re.S | re.M)
    commands = []
    for block in blocks:
        lines = [line for line in block.splitlines() if line.strip()]
        if len(lines) != 1:
            raise SystemExit(f"a set-up block must hold one command, got {lines}")
        commands.append(lines[0])
    return commands


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        print("\n".join(setup_commands(f.read())))
