"""Write Binder's environment.yml from constraints.txt: the package with its ``book`` extra, and
the pins of exactly the distributions that extra needs, no test tool.

The needed set is the closure of ``deepissues[book]``'s requirements, read from the installed
distributions' metadata (the environment ``make`` built from constraints.txt), with markers
evaluated for this interpreter, as Binder's Linux Python 3.11 would. A test checks that the file
is current.

    .venv/bin/python -m tools.environment            # rewrite environment.yml
    .venv/bin/python -m tools.environment --check    # exit 1 if it is out of date
"""

import argparse
import re
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
HEADER = """\
# Binder environment, written by `python -m tools.environment` from constraints.txt: the package
# with its book extra and the pins of what that needs (tests/test_book.py checks it is current).
name: deepissues
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
      # the CPU build of torch, which is all the default scale needs
      - --extra-index-url https://download.pytorch.org/whl/cpu
      - -e .[book]
"""


def pins(text):
    """{canonical name: (name as written, version)} of the ``name==version`` lines of ``text``."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(r"\s*(?:-\s*)?([A-Za-z0-9_.\-]+)==(\S+)\s*", line)
        if match:
            found[canonicalize_name(match[1])] = (match[1], match[2])
    return found


def closure(root="deepissues", extras=("book",)):
    """Canonical names of every installed distribution that ``root[extras]`` needs, ``root`` excluded."""
    needed, todo = set(), [(root, frozenset(extras))]
    seen = set(todo)  # (name, extras): a package met again with other extras brings their requirements too
    while todo:
        name, wanted = todo.pop()
        try:
            requirements = distribution(name).requires or []
        except PackageNotFoundError:
            raise RuntimeError(f"{name} is not installed here: run make first, so that the closure can be read") from None
        for line in requirements:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": extra}) for extra in (wanted or {""})):
                continue
            needed.add(canonicalize_name(requirement.name))
            item = (canonicalize_name(requirement.name), frozenset(requirement.extras))
            if item not in seen:
                seen.add(item)
                todo.append(item)
    needed.discard(canonicalize_name(root))
    return needed


def oldest_python(extras=()):
    """The oldest Python 3 release ("3.minor.patch") that every distribution ``deepissues[extras]``
    needs accepts, by their ``Requires-Python``: what the install instructions may promise."""
    specifiers = [SpecifierSet(distribution(name).metadata.get("Requires-Python") or "")
                  for name in closure(extras=extras)]
    for minor in range(8, 20):
        for patch in range(30):
            version = f"3.{minor}.{patch}"
            if all(version in specifier for specifier in specifiers):
                return version
    raise RuntimeError("no Python 3 release satisfies every pinned distribution")


def environment_yml(constraints=None):
    """The text of environment.yml for the pins in ``constraints`` (default: constraints.txt)."""
    pinned = pins(constraints if constraints is not None else (ROOT / "constraints.txt").read_text())
    needed = closure()
    unpinned = sorted(needed - set(pinned))
    if unpinned:
        raise RuntimeError(f"the book needs these, which constraints.txt does not pin: {unpinned}")
    lines = [f"      - {pinned[key][0]}=={pinned[key][1]}" for key in sorted(needed)]
    return HEADER + "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if environment.yml is out of date")
    args = parser.parse_args(argv)
    target, text = ROOT / "environment.yml", environment_yml()
    if args.check:
        if target.read_text() != text:
            print("environment.yml is out of date: run `.venv/bin/python -m tools.environment`", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
