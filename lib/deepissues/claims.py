"""Record and assert a chapter's reproduced claims.

Each chapter names itself once with :func:`chapter`, then states its claims with
:func:`check`. Every claim is written to ``_build/claims/<chapter>.json`` (so that the
book can publish what held) and a false claim raises :class:`ClaimFailed`, so that the
notebook tests fail when a result stops reproducing.
"""

import json
import os
import pathlib
import time

from . import repro

_current = {"chapter": None}


class ClaimFailed(AssertionError):
    """A chapter's claim did not reproduce."""


def claims_dir():
    """Where records go: ``$DEEPISSUES_CLAIMS_DIR``, else ``_build/claims`` under the book root.

    The book root is the nearest folder above the working directory holding ``_toc.yml``;
    outside the book (e.g. on Colab) it is the working directory.
    """
    if os.environ.get("DEEPISSUES_CLAIMS_DIR"):
        return pathlib.Path(os.environ["DEEPISSUES_CLAIMS_DIR"])
    here = pathlib.Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists():
            return folder / "_build" / "claims"
    return here / "_build" / "claims"


def chapter(name):
    """Start recording claims for chapter ``name`` (e.g. "01-linear-regions"), clearing old ones."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"chapter name must be a non-empty string, got {name!r}")
    _current["chapter"] = name
    _write(name, [])
    return name


def records(name=None):
    """The claims recorded so far for chapter ``name`` (default: the current chapter)."""
    path = claims_dir() / f"{name or _current['chapter']}.json"
    if not path.exists():
        return []
    return json.loads(path.read_text())["claims"]


def check(name, condition, detail=""):
    """Record the claim ``name`` with its outcome and ``detail``; raise if it did not hold.

    Parameters
    ----------
    name : str, the claim in words ("parity d=30 stays at chance").
    condition : bool-like, whether it held in this run.
    detail : str, the numbers behind it ("acc=0.503").

    Returns nothing, so that a claim cell shows only the printed line.

    Example
    -------
    >>> chapter("demo")  # doctest: +SKIP
    >>> check("two plus two", 2 + 2 == 4, "4")  # doctest: +SKIP
    """
    if _current["chapter"] is None:
        raise RuntimeError("call deepissues.claims.chapter('NN-topic') before check()")
    held = bool(condition)
    entry = {"name": str(name), "held": held, "detail": str(detail), "scale": repro.scale(),
             "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    entries = [e for e in records() if e["name"] != entry["name"]] + [entry]
    _write(_current["chapter"], entries)
    mark = "held" if held else "FAILED"
    print(f"[claim {mark}] {name}: {detail}")
    if not held:
        raise ClaimFailed(f"claim did not reproduce: {name} ({detail})")


def _write(name, entries):
    folder = claims_dir()
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"chapter": name, "claims": entries}
    (folder / f"{name}.json").write_text(json.dumps(payload, indent=1))
