"""Record and assert a chapter's claims, each beside what its source reported.

Each chapter names itself once with :func:`chapter`, then states its claims with
:func:`check`. A claim has a kind:

- ``"reproduces"``: a claim of a source holds here;
- ``"extends"``: the book's own finding, beyond the sources;
- ``"differs"``: the small run disagrees with the source, and the check asserts the honest difference;
- ``"illustrates"``: a theorem or a construction shown numerically. It holds unless the code is
  wrong, so it is no evidence: the report lists it apart and leaves it out of the counts.

A claim of the first three kinds carries a :class:`Control`: the same test, judged by the same
condition, on a run where the claim must *not* hold (an untrained network, random points, noise
of the same norm, shuffled labels, the baseline the claim beats; or, for a claim of no effect, a
planted effect of the source's size). A claim whose control also holds cannot be told from its
control, and fails.

Every claim is written to ``_build/claims/<chapter>.json`` (so that the book can publish a ledger
of what the sources say and what held). A false claim raises :class:`ClaimFailed` in the book
build, the tests and any script, so that they fail when a result stops reproducing. In a live
notebook kernel (Colab, Binder, a laptop), where a student's torch or numpy may differ from the
book's pins, it prints a visible warning instead and the chapter goes on to its exercises;
``DEEPISSUES_CLAIMS_RAISE=1`` makes it raise there too. The seed sweep in ``benchmarks/`` sets
``DEEPISSUES_CLAIMS_RAISE=0``, which records a false claim without raising anywhere, so that every
claim of a chapter is measured.
"""

import dataclasses
import json
import os
import pathlib
import sys
import textwrap
import time

from . import repro

__all__ = ["KINDS", "EVIDENCE", "Control", "ClaimFailed", "claims_dir", "chapter", "records", "check"]

KINDS = ("reproduces", "extends", "differs", "illustrates")
EVIDENCE = ("reproduces", "extends", "differs")  # the kinds that count as evidence and need a control
_current = {"chapter": None}
WIDTH = 80  # a printed claim line wraps at the width of the page's code column
CONTINUED = "    "  # how its continuation lines start


class ClaimFailed(AssertionError):
    """A chapter's claim did not reproduce, or could not be told from its control."""


@dataclasses.dataclass(frozen=True)
class Control:
    """The claim's test on a run where it must not hold.

    Parameters
    ----------
    what : str, the control run in words ("an untrained copy of the network").
    held : bool-like, the claim's own condition evaluated on the control's measurement: it must
        be false. Evaluate the same expression on the control's numbers; never the negated
        condition or another threshold, which cannot fail.
    detail : str, the control's numbers ("acc=0.101").
    planted : bool, True for a positive control: a planted effect (of the source's size) that a
        claim of no effect must detect, so that its test is shown to have the power to see it.
    """

    what: str
    held: bool
    detail: str = ""
    planted: bool = False

    def __post_init__(self):
        if not isinstance(self.what, str) or not self.what.strip():
            raise ValueError(f"a control's what must name the control run in words, got {self.what!r}")
        if not isinstance(self.detail, str):
            raise TypeError(f"a control's detail must be a string, got {type(self.detail).__name__}")
        if not isinstance(self.planted, bool):
            raise TypeError(f"a control's planted must be True or False, got {self.planted!r}")
        object.__setattr__(self, "held", bool(self.held))

    def record(self):
        """The control as the ledger stores it: what, detail, planted, held and failed_as_it_should."""
        return {"what": self.what, "detail": self.detail, "planted": self.planted, "held": self.held,
                "failed_as_it_should": not self.held}


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


def check(name, condition, detail="", *, kind, source="", cite="", control=None):
    """Record the claim ``name`` with its outcome, kind, source and control; raise if it did not
    hold or if its control held too.

    Parameters
    ----------
    name : str, the claim in words ("parity d=30 stays at chance").
    condition : bool-like, whether it held in this run.
    detail : str, the numbers behind it ("acc=0.503").
    kind : {"reproduces", "extends", "differs", "illustrates"}, keyword only and required.
    source : str, what the source reports, with its figure where it gives one (for
        ``illustrates``, the theorem); required for every kind but ``extends``, where it is empty.
    cite : str, the ``book/references.bib`` key of that source; required exactly when ``source`` is.
    control : :class:`Control` or None, the same test on a run where the claim must not hold.
        Every claim of a kind in ``EVIDENCE`` carries one (the chapters' tests enforce it); an
        ``illustrates`` claim takes none.

    Returns
    -------
    None, so that a claim cell shows only the printed lines.

    Raises
    ------
    ClaimFailed, when the condition is false or the control's is true (unless
    ``DEEPISSUES_CLAIMS_RAISE=0``).

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

    With its control: the same condition on the same network untrained, where nothing could
    have been learnt, so the claim must not hold there:

    >>> trained, untrained = 0.981, 0.507
    >>> check("parity d=10 is learnt", trained > 0.9, f"acc={trained:.3f}", kind="extends",
    ...       control=Control("the same network untrained", untrained > 0.9, f"acc={untrained:.3f}"))
    [claim held] parity d=10 is learnt: acc=0.981
      control, the same network untrained: acc=0.507 (fails, as it should)
    """
    _check_provenance(name, kind, source, cite)
    _check_control(name, kind, control)
    if _current["chapter"] is None:
        raise RuntimeError("call deepissues.claims.chapter('NN-topic') before check()")
    condition = bool(condition)
    held = condition and not (control is not None and control.held)
    entry = {"name": str(name), "held": held, "condition": condition, "detail": str(detail), "kind": kind,
             "source": source, "cite": cite, "control": None if control is None else control.record(),
             "scale": repro.scale(), "seed_offset": repro.seed_offset(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    entries = [e for e in records() if e["name"] != entry["name"]] + [entry]
    _write(_current["chapter"], entries)
    print(_wrap(f"[claim {'held' if held else 'FAILED'}] {name}: {detail}", indent=CONTINUED))
    if control is not None:
        verdict = "HOLDS TOO: the check cannot tell the claim from it" if control.held else "fails, as it should"
        print(_wrap(f"  control, {control.what}: {control.detail} ({verdict})", indent=CONTINUED + "  "))
    if held or os.environ.get("DEEPISSUES_CLAIMS_RAISE") == "0":
        return
    if stops_on_failure():
        if not condition:
            raise ClaimFailed(f"claim did not reproduce: {name} ({detail})")
        raise ClaimFailed(f"claim {name!r} cannot be told from its control: the check holds on "
                          f"{control.what} too ({control.detail})")
    print(_LIVE_WARNING.format(name=name, versions=_versions()), file=sys.stderr)


_LIVE_WARNING = """WARNING: the claim "{name}" did not hold in this run.
The book's build stops on such a failure; here the chapter goes on, so that you reach the exercises.
Your versions ({versions}) may differ from the book's pins (constraints.txt), which can move a
number across a threshold. Set DEEPISSUES_CLAIMS_RAISE=1 to stop at a failed claim instead."""


def _wrap(line, indent):
    """``line`` folded at spaces into lines of at most ``WIDTH`` characters (the page's code
    column), each continuation starting with ``indent``; joining them back with single spaces
    gives ``line`` again (the report reads the claim's name from the printed lines)."""
    return textwrap.fill(line, width=WIDTH, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False)


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


def _check_control(name, kind, control):
    if control is not None and not isinstance(control, Control):
        raise TypeError(f"control of claim {name!r} must be a deepissues.claims.Control or None, "
                        f"got {type(control).__name__}")
    if kind == "illustrates" and control is not None:
        raise ValueError(f"claim {name!r} is of kind 'illustrates' (a theorem shown numerically), which "
                         f"takes no control; a result with a control that could fail is evidence: use "
                         f"'reproduces', 'extends' or 'differs'")


def _write(name, entries):
    folder = claims_dir()
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"chapter": name, "claims": entries}
    (folder / f"{name}.json").write_text(json.dumps(payload, indent=1))
