"""Record and assert a chapter's claims, each beside what its source reported.

Each chapter names itself once with :func:`chapter`, then states its claims with
:func:`check`. A claim has a kind:

- ``"reproduces"``: a claim of a source holds here;
- ``"extends"``: the book's own finding, beyond the sources;
- ``"differs"``: the small run disagrees with the source, and the check asserts the honest difference.

Every claim is written to ``_build/claims/<chapter>.json`` (so that the book can publish a ledger
of what the sources say and what held). A false claim raises :class:`ClaimFailed` in the book
build, the tests and any script, so that they fail when a result stops reproducing. In a live
notebook kernel (Colab, Binder, a laptop), where a student's torch or numpy may differ from the
book's pins, it prints a visible warning instead and the chapter goes on to its exercises;
``DEEPISSUES_CLAIMS_RAISE=1`` makes it raise there too. The seed sweep in ``benchmarks/`` sets
``DEEPISSUES_CLAIMS_RAISE=0``, which records a false claim without raising anywhere, so that every
claim of a chapter is measured.
"""

import json
import os
import pathlib
import sys
import time

from . import repro

__all__ = ["KINDS", "ClaimFailed", "claims_dir", "chapter", "records", "check"]

KINDS = ("reproduces", "extends", "differs")
_current = {"chapter": None}


class ClaimFailed(AssertionError):
    """A chapter's claim did not reproduce."""


def claims_dir(start=None):
    """Where records go: ``$DEEPISSUES_CLAIMS_DIR``, else ``_build/claims`` under the book root.

    The book root is the nearest folder at or above ``start`` holding ``_toc.yml``; outside the
    book (e.g. on Colab) it is ``start`` itself.

    Parameters
    ----------
    start : path or None, where to look from; default the working directory.

    Returns
    -------
    pathlib.Path.
    """
    if start is not None and not isinstance(start, (str, os.PathLike)):
        raise TypeError(f"start must be a path or None, got {type(start).__name__}")
    if os.environ.get("DEEPISSUES_CLAIMS_DIR"):
        return pathlib.Path(os.environ["DEEPISSUES_CLAIMS_DIR"])
    here = pathlib.Path(start or pathlib.Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists():
            return folder / "_build" / "claims"
    return here / "_build" / "claims"


def chapter(name):
    """Start recording claims for chapter ``name``, clearing the ones an earlier run left.

    Parameters
    ----------
    name : str, the chapter's file name without ".md" (e.g. "01-linear-regions").

    Returns
    -------
    str, the name.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"chapter name must be a non-empty string, got {name!r}")
    _current["chapter"] = name
    _write(name, [])
    return name


def records(name=None):
    """The claims recorded so far for a chapter.

    Parameters
    ----------
    name : str or None, the chapter; default the current one.

    Returns
    -------
    list of dicts, one per claim, with the fields of :func:`check` and "held".
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a chapter name (str) or None, got {type(name).__name__}")
    path = claims_dir() / f"{name or _current['chapter']}.json"
    if not path.exists():
        return []
    return json.loads(path.read_text())["claims"]


def check(name, condition, detail="", *, kind, source="", cite=""):
    """Record the claim ``name`` with its outcome, kind and source; raise if it did not hold.

    Parameters
    ----------
    name : str, the claim in words ("parity d=30 stays at chance").
    condition : bool-like, whether it held in this run.
    detail : str, the numbers behind it ("acc=0.503").
    kind : {"reproduces", "extends", "differs"}, keyword only and required.
    source : str, what the source reports, with its figure where it gives one; required for
        ``reproduces`` and ``differs``, empty for ``extends``.
    cite : str, the ``book/references.bib`` key of that source; required exactly when ``source`` is.

    Returns
    -------
    None, so that a claim cell shows only the printed line.

    Raises
    ------
    ClaimFailed, when the condition is false (unless ``DEEPISSUES_CLAIMS_RAISE=0``).

    Examples
    --------
    >>> chapter("demo")
    'demo'
    >>> acc = 0.503
    >>> check("parity d=30 stays at chance", abs(acc - 0.5) < 0.05, f"acc={acc:.3f}",
    ...       kind="reproduces", source="Shalev-Shwartz et al.: no progress beyond chance at d = 30",
    ...       cite="shalevshwartz2017failures")
    [claim held] parity d=30 stays at chance: acc=0.503
    >>> [record["held"] for record in records("demo")]
    [True]
    """
    _check_provenance(name, kind, source, cite)
    if _current["chapter"] is None:
        raise RuntimeError("call deepissues.claims.chapter('NN-topic') before check()")
    held = bool(condition)
    entry = {"name": str(name), "held": held, "detail": str(detail), "kind": kind, "source": source,
             "cite": cite, "scale": repro.scale(), "seed_offset": repro.seed_offset(),
             "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    entries = [e for e in records() if e["name"] != entry["name"]] + [entry]
    _write(_current["chapter"], entries)
    mark = "held" if held else "FAILED"
    print(f"[claim {mark}] {name}: {detail}")
    if held or os.environ.get("DEEPISSUES_CLAIMS_RAISE") == "0":
        return
    if stops_on_failure():
        raise ClaimFailed(f"claim did not reproduce: {name} ({detail})")
    print(_LIVE_WARNING.format(name=name, versions=_versions()), file=sys.stderr)


_LIVE_WARNING = """WARNING: the claim "{name}" did not hold in this run.
The book's build stops on such a failure; here the chapter goes on, so that you reach the exercises.
Your versions ({versions}) may differ from the book's pins (constraints.txt), which can move a
number across a threshold. Set DEEPISSUES_CLAIMS_RAISE=1 to stop at a failed claim instead."""


def stops_on_failure():
    """Whether a false claim raises :class:`ClaimFailed` here.

    Returns
    -------
    bool: ``DEEPISSUES_CLAIMS_RAISE`` decides when set ("0" never raises, anything else raises);
    unset, a live notebook kernel only warns (see :func:`deepissues.widgets.is_live`) and
    everything else raises: the book build and the tests render static pages, and a script has no
    reader to warn.
    """
    setting = os.environ.get("DEEPISSUES_CLAIMS_RAISE")
    if setting is not None:
        return setting != "0"
    from .widgets import is_live

    return not is_live()


def _versions():
    import numpy
    import torch

    return f"torch {torch.__version__}, numpy {numpy.__version__}"


def _check_provenance(name, kind, source, cite):
    if kind not in KINDS:
        raise ValueError(f"kind of claim {name!r} must be one of {KINDS}, got {kind!r}")
    for field, value in (("source", source), ("cite", cite)):
        if not isinstance(value, str):
            raise TypeError(f"{field} of claim {name!r} must be a string, got {type(value).__name__}")
        if kind == "extends" and value:
            raise ValueError(f"{field} of claim {name!r} must be empty for kind 'extends' (the book's own "
                             f"finding), got {value!r}")
        if kind != "extends" and not value.strip():
            raise ValueError(f"{field} of claim {name!r} must be non-empty for kind {kind!r}, got {value!r}")


def _write(name, entries):
    folder = claims_dir()
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"chapter": name, "claims": entries}
    (folder / f"{name}.json").write_text(json.dumps(payload, indent=1))
