"""The reproducibility report: a ``{claims-report}`` directive that becomes, once every chapter
has been executed, a table of each chapter's claims (from the records ``deepissues.claims``
writes), its execution time against the budget, and the scale it ran at.

The directive leaves a placeholder; a post-transform fills it in at write time, after all the
notebooks have run, so the report always describes the build it is part of.
"""

import json

from docutils import nodes
from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

BUDGET_S = 90.0  # a chapter's execution budget at the default scale on 2 CPU cores
CHAPTERS = "notebooks/"


class ClaimsReportNode(nodes.General, nodes.Element):
    """Placeholder for the report."""


class ClaimsReport(SphinxDirective):
    def run(self):
        return [ClaimsReportNode()]


def summarise(claims, runtime, budget=BUDGET_S):
    """One chapter's row: (held, total, runtime, within budget, scales). ``claims`` is the list
    of records of ``deepissues.claims``; ``runtime`` the execution time in s or None."""
    held = sum(bool(c["held"]) for c in claims)
    scales = sorted({c.get("scale", "?") for c in claims})
    return held, len(claims), runtime, runtime is not None and runtime <= budget, ", ".join(scales) or "-"


def _records(docname):
    from deepissues.claims import claims_dir

    path = claims_dir() / f"{docname.split('/')[-1]}.json"
    return json.loads(path.read_text())["claims"] if path.exists() else []


def _paragraph(*parts):
    paragraph = nodes.paragraph()
    for part in parts:
        paragraph += part if isinstance(part, nodes.Node) else nodes.Text(part)
    return paragraph


def _table(header, rows):
    table = nodes.table(classes=["colwidths-auto"])
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


class FillClaimsReport(SphinxPostTransform):
    default_priority = 8

    def run(self, **kwargs):
        for node in list(self.document.findall(ClaimsReportNode)):
            node.replace_self(self.report())

    def link(self, docname, title):
        uri = self.app.builder.get_relative_uri(self.env.docname, docname)  # wherever the report page sits
        return _paragraph(nodes.reference("", title, internal=True, refuri=uri))

    def report(self):
        metadata = NbMetadataCollector.get_doc_data(self.env)
        chapters = sorted(d for d in self.env.found_docs if d.startswith(CHAPTERS))
        rows, details, total_time = [], [], 0.0
        for docname in chapters:
            claims = _records(docname)
            runtime = (metadata.get(docname, {}).get("exec_data") or {}).get("runtime")
            held, count, runtime, in_budget, scales = summarise(claims, runtime)
            total_time += runtime or 0.0
            title = self.env.titles[docname].astext() if docname in self.env.titles else docname
            status = "✅ all held" if count and held == count else f"❌ {count - held} failed" if count else "no claims"
            rows.append([self.link(docname, title), f"{held} / {count}", status,
                         "-" if runtime is None else f"{runtime:.1f} s" + ("" if in_budget else " (over budget)"), scales])
            details.append(nodes.rubric(text=title))
            items = nodes.bullet_list()
            for claim in claims:
                mark = "✅ " if claim["held"] else "❌ "
                detail = f" ({claim['detail']})" if claim.get("detail") else ""
                items += nodes.list_item("", _paragraph(mark + claim["name"] + detail))
            details.append(items)
        summary = _paragraph(f"{len(chapters)} chapters, executed in {total_time:.0f} s together "
                             f"(budget: {BUDGET_S:.0f} s per chapter, 600 s for the book).")
        table = _table(["chapter", "claims held", "status", "execution time", "scale"], rows)
        return [summary, table, *details]


def setup(app):
    app.add_node(ClaimsReportNode)
    app.add_directive("claims-report", ClaimsReport)
    app.add_post_transform(FillClaimsReport)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
