"""The reproducibility report: a ``{claims-report}`` directive that becomes, once every chapter
has been executed, a ledger of the book's claims.

For every chapter it shows a table of its claims, read from the records ``deepissues.claims``
writes: the claim (linked to the section that makes it), its kind, what the source says (linked to
the bibliography), what this build measured, its control (the same check on a run where the claim
must not hold, and that it failed as it should), and whether it held. Illustrations (theorems
shown numerically, which hold unless the code is wrong) have a table of their own and are not
counted as evidence. Above the tables come the
counts for the whole book, the provenance of the build (commit, date, versions, machine, scale,
seed) and each chapter's execution time against the budget: the CPU time of its kernel, as
``tools/execute_chapters.py`` recorded it, so that a build on a busy machine, where the wall
time stretches, does not mark a chapter that is within budget.

The directive leaves a placeholder; a post-transform fills it in at write time, after all the
notebooks have run, so the report always describes the build it is part of. Its citation links are
pending cross-references that sphinxcontrib-bibtex resolves right after it.
"""

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

BUDGET_S = 90.0  # a chapter's execution budget at the default scale, in CPU seconds on one thread
RECORDS = "_build/executed"  # tools/execute_chapters.py's records: key, wall and CPU time, claims
CHAPTERS = "notebooks/"
KINDS = ("reproduces", "differs", "extends")  # the kinds that count as evidence, each with a control
ILLUSTRATES = "illustrates"
COLUMNS = ("claim", "kind", "what the source says", "what we measured", "control", "held")
THEOREM_COLUMNS = ("claim", "chapter", "the theorem", "what we measured", "held")
TOOLCHAIN = ("torch", "numpy", "jupyter-book", "sphinx", "myst-nb")
logger = logging.getLogger(__name__)


class ClaimsReportNode(nodes.General, nodes.Element):
    """Placeholder for the report."""


class ClaimsReport(SphinxDirective):
    def run(self):
        return [ClaimsReportNode()]


def summarise(claims, runtime, budget=BUDGET_S):
    """One chapter's row: (held, total, runtime, within budget, scales). ``claims`` is the list
    of records of ``deepissues.claims``; ``runtime`` the execution's CPU time in s or None."""
    held = sum(bool(c["held"]) for c in claims)
    scales = sorted({c.get("scale", "?") for c in claims})
    return held, len(claims), runtime, runtime is not None and runtime <= budget, ", ".join(scales) or "-"


def ledger_counts(claims):
    """{kind: (held, total)} over a list of claim records, for each of ``KINDS`` and ``illustrates``."""
    return {kind: (sum(bool(c["held"]) for c in claims if c.get("kind") == kind),
                   sum(c.get("kind") == kind for c in claims)) for kind in (*KINDS, ILLUSTRATES)}


def control_text(claim):
    """The ledger's control cell for a claim record: what the control was, its measurement and
    whether it failed as it should; "none yet" for a record without one."""
    control = claim.get("control")
    if not control:
        return "none yet"
    kind = "planted effect" if control.get("planted") else "control"
    verdict = "failed, as it should" if control["failed_as_it_should"] else "HELD TOO"
    return f"{kind}: {control['what']}; {control.get('detail') or '-'}; {verdict}"


def claim_sections(doctree):
    """{claim name: id of the section whose cell printed it} from a chapter's doctree.

    ``deepissues.claims.check`` prints ``[claim held] <name>: <detail>``; the cell's output sits
    inside the section that makes the claim.
    """
    found = {}
    for block in doctree.findall(nodes.literal_block):
        section = next((a for a in _ancestors(block) if isinstance(a, nodes.section) and a["ids"]), None)
        for line in printed_claims(block.astext()):
            for mark in ("[claim held] ", "[claim FAILED] "):
                if line.startswith(mark) and section is not None:
                    found.setdefault(line[len(mark):], section["ids"][0])
    return found


def printed_claims(text):
    """The lines of ``text`` with each claim's wrapped continuation lines (which start with
    four spaces, as ``deepissues.claims`` prints them) joined back onto it."""
    lines = []
    for line in text.splitlines():
        if lines and lines[-1].startswith("[claim ") and line.startswith("    "):
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return lines


def section_of(name, sections):
    """The section id for claim ``name``: the printed line is ``<name>: <detail>``."""
    return next((sid for line, sid in sections.items() if line == name or line.startswith(name + ":")), None)


def provenance(srcdir, claims):
    """[(label, value)] describing the build: commit, date, versions, machine, scale and seed."""
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=srcdir, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown (not a git checkout)"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += " with uncommitted changes"
    versions = ", ".join(f"{name} {_version(name)}" for name in TOOLCHAIN)
    import torch  # the build's own torch: whether it sees a GPU is part of the provenance

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    scales = ", ".join(sorted({str(c.get("scale", "?")) for c in claims})) or "-"
    offsets = sorted({int(c.get("seed_offset", 0)) for c in claims})
    seeds = ", ".join(f"offset {s}" + (" (the chapters' own seeds)" if s == 0 else f" (every seed + {1000 * s})")
                      for s in offsets) or "-"
    return [("commit", commit), ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
            ("versions", f"Python {platform.python_version()}, {versions}"),
            ("machine", f"{os.cpu_count()} CPU cores ({platform.machine()}), GPU: {gpu}"),
            ("scale", scales), ("seed", f"{seeds}; set with DEEPISSUES_SEED")]


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _ancestors(node):
    while node.parent is not None:
        node = node.parent
        yield node


def execution_times(srcdir, docname):
    """(CPU s, wall s) of the chapter's last execution, from its record; (None, None) without one."""
    path = Path(srcdir) / RECORDS / f"{docname.split('/')[-1]}.json"
    if not path.exists():
        return None, None
    record = json.loads(path.read_text())
    return record.get("cpu_s"), record.get("wall_s")


def _records(claims_folder, docname):
    path = claims_folder / f"{docname.split('/')[-1]}.json"
    return json.loads(path.read_text())["claims"] if path.exists() else []


def _paragraph(*parts):
    paragraph = nodes.paragraph()
    for part in parts:
        paragraph += part if isinstance(part, nodes.Node) else nodes.Text(part)
    return paragraph


def _table(header, rows, classes=()):
    table = nodes.table(classes=["colwidths-auto", *classes])
    group = nodes.tgroup(cols=len(header))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in header)
    head, body = nodes.thead(), nodes.tbody()
    group += head
    group += body
    for target, cells in ((head, header), *((body, row) for row in rows)):
        row = nodes.row()
        row.extend(nodes.entry("", cell if isinstance(cell, nodes.Node) else _paragraph(cell)) for cell in cells)
        target += row
    return table


def _citation(key):
    """A pending cross-reference to ``key``'s bibliography entry, as the ``{cite:p}`` role makes."""
    return addnodes.pending_xref("", nodes.inline("", key), refdomain="cite", reftype="p", reftarget=key,
                                 refwarn=True)


class FillClaimsReport(SphinxPostTransform):
    default_priority = 8  # before the references resolver (10), which resolves the citations

    def run(self, **kwargs):
        for node in list(self.document.findall(ClaimsReportNode)):
            node.replace_self(self.report())

    def uri(self, docname, anchor=None):
        uri = self.app.builder.get_relative_uri(self.env.docname, docname)  # wherever the report page sits
        return uri + (f"#{anchor}" if anchor else "")

    def link(self, text, docname, anchor=None):
        return nodes.reference("", text, internal=True, refuri=self.uri(docname, anchor))

    def claim_link(self, claim, docname, sections):
        anchor = section_of(claim["name"], sections)
        if anchor is None:
            logger.warning(f"claim {claim['name']!r} of {docname}: no section of the chapter printed it",
                           location=self.env.docname)
        return _paragraph(self.link(claim["name"], docname, anchor))

    def ledger(self, docname, claims):
        sections = claim_sections(self.env.get_doctree(docname))
        rows = []
        for claim in claims:
            source = (_paragraph(claim["source"] + " ", _citation(claim["cite"])) if claim.get("cite")
                      else _paragraph("the book's own finding"))
            rows.append([self.claim_link(claim, docname, sections), claim.get("kind", "?"), source,
                         claim.get("detail") or "-", control_text(claim), "yes" if claim["held"] else "NO"])
        return _table(list(COLUMNS), rows, classes=["claims-ledger"])

    def theorems(self, records):
        """One table of every chapter's illustrations, apart from the evidence."""
        rows = []
        for docname, claims in records.items():
            sections = claim_sections(self.env.get_doctree(docname))
            title = self.env.titles[docname].astext() if docname in self.env.titles else docname
            rows.extend([self.claim_link(claim, docname, sections), _paragraph(self.link(title, docname)),
                         _paragraph(claim["source"] + " ", _citation(claim["cite"])), claim.get("detail") or "-",
                         "yes" if claim["held"] else "NO"] for claim in claims if claim.get("kind") == ILLUSTRATES)
        return _table(list(THEOREM_COLUMNS), rows, classes=["claims-theorems"])

    def report(self):
        chapters = sorted(d for d in self.env.found_docs if d.startswith(CHAPTERS))
        from deepissues.claims import claims_dir

        folder = claims_dir(self.app.srcdir)  # the book's own records, wherever the build was started
        records = {docname: _records(folder, docname) for docname in chapters}
        everything = [c for claims in records.values() for c in claims]
        rows, details, total_time, total_wall = [], [], 0.0, 0.0
        for docname in chapters:
            claims = records[docname]
            if not claims:
                logger.warning(f"no claim records for {docname} in {folder}: was the chapter executed?",
                               location=self.env.docname)
            runtime, wall = execution_times(self.app.srcdir, docname)
            if runtime is None:
                logger.warning(f"no execution record for {docname} in {RECORDS}: was it executed by "
                               f"tools/execute_chapters.py?", location=self.env.docname)
            held, count, runtime, in_budget, scales = summarise(claims, runtime)
            total_time += runtime or 0.0
            total_wall += wall or 0.0
            title = self.env.titles[docname].astext() if docname in self.env.titles else docname
            status = "all held" if count and held == count else f"{count - held} FAILED" if count else "no claims"
            rows.append([_paragraph(self.link(title, docname)), f"{held} / {count}", status,
                         "-" if runtime is None else f"{runtime:.1f} s" + ("" if in_budget else " (over budget)"),
                         "-" if wall is None else f"{wall:.1f} s", scales])
            details.append(nodes.rubric(text=title))
            details.append(self.ledger(docname, [c for c in claims if c.get("kind") != ILLUSTRATES]))
        counts = ledger_counts(everything)
        evidence = [c for c in everything if c.get("kind") != ILLUSTRATES]
        controlled = sum(bool(c.get("control")) and c["control"]["failed_as_it_should"] for c in evidence)
        summary = _paragraph(
            f"{len(evidence)} claims in {len(chapters)} chapters, {sum(c['held'] for c in evidence)} held in "
            f"this build: {counts['reproduces'][1]} reproduce a claim of a source ({counts['reproduces'][0]} held), "
            f"{counts['differs'][1]} differ from their source and check the difference ({counts['differs'][0]} held), "
            f"{counts['extends'][1]} are the book's own findings ({counts['extends'][0]} held). "
            f"{controlled} of them carry a control that failed as it should. Besides, "
            f"{counts[ILLUSTRATES][1]} illustrate a theorem numerically ({counts[ILLUSTRATES][0]} held); "
            f"they are listed apart and not counted as evidence.")
        summary["classes"].append("claims-summary")
        facts = nodes.bullet_list()
        for label, value in provenance(self.app.srcdir, everything):
            facts += nodes.list_item("", _paragraph(nodes.strong(text=label + ": "), value))
        timing = _paragraph(f"The chapters' kernels used {total_time:.0f} s of CPU together, one thread each "
                            f"(budget: {BUDGET_S:.0f} s per chapter); their wall times add up to "
                            f"{total_wall:.0f} s, spread over the cores the build had.")
        table = _table(["chapter", "claims held", "status", "CPU time", "wall time", "scale"], rows)
        theorems = [nodes.rubric(text="Theorems shown numerically"),
                    self.theorems(records) if counts[ILLUSTRATES][1] else _paragraph("None yet.")]
        return [summary, nodes.rubric(text="This build"), facts, timing, table, *details, *theorems]


def setup(app):
    app.add_node(ClaimsReportNode)
    app.add_directive("claims-report", ClaimsReport)
    app.add_post_transform(FillClaimsReport)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
