"""Public means listed in ``__all__``: every module has one, and neither the library's own modules
nor the chapters import anything else."""

import ast
import importlib
import inspect
import pathlib
import pkgutil
import re
import textwrap
from dataclasses import is_dataclass

import pytest

import deepissues

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = sorted(m.name for m in pkgutil.walk_packages(deepissues.__path__, "deepissues."))


def module_file(name):
    return pathlib.Path(importlib.import_module(name).__file__)


def is_submodule(module, name):
    return importlib.util.find_spec(f"{module}.{name}") is not None if hasattr(
        importlib.import_module(module), "__path__") else False


def public(module, name):
    return name in importlib.import_module(module).__all__ or is_submodule(module, name)


@pytest.mark.parametrize("name", ["deepissues"] + MODULES)
def test_every_module_lists_its_public_names_and_they_exist(name):
    module = importlib.import_module(name)
    assert isinstance(getattr(module, "__all__", None), list), f"{name} defines no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists names it does not define: {missing}"
    assert len(set(module.__all__)) == len(module.__all__), f"{name}.__all__ repeats a name"


def library_imports():
    """(importing file, target module, name) for every ``from <deepissues module> import name``."""
    for name in ["deepissues"] + MODULES:
        path = module_file(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                for alias in node.names:
                    yield name, target, alias.name


def test_the_library_imports_only_public_names_across_modules():
    private = [f"{who} imports {name} from {target}" for who, target, name in library_imports()
               if who != target and not public(target, name)]
    assert not private, "\n".join(private)


def code_cells(path):
    text = path.read_text()
    for cell in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, flags=re.S):
        lines = [line for line in cell.splitlines() if not line.lstrip().startswith(("%", "!", ":"))]
        yield "\n".join(lines)


def notebook_uses(path):
    """(module, name) for every deepissues name a chapter imports or reads from a module alias."""
    aliases = {}
    for source in code_cells(path):
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("deepissues"):
                for alias in node.names:
                    if is_submodule(node.module, alias.name):
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    yield node.module, alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("deepissues"):
                        aliases[alias.asname or alias.name] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                yield aliases[node.value.id], node.attr


@pytest.mark.parametrize("chapter", sorted(p.name for p in (ROOT / "notebooks").glob("*.md")))
def test_chapters_use_only_public_names(chapter):
    private = sorted({f"{module}.{name}" for module, name in notebook_uses(ROOT / "notebooks" / chapter)
                      if not public(module, name)})
    assert not private, f"{chapter} uses names outside __all__: {private}"


def test_a_private_import_is_caught(tmp_path):
    """Control: a chapter that reaches into a module's internals fails the check."""
    page = tmp_path / "bad.md"
    page.write_text("```{code-cell} ipython3\nfrom deepissues.attacks.minimal import nearest_boundary\n"
                    "from deepissues import training as T\nT._check_xy\n```\n")
    assert [(m, n) for m, n in notebook_uses(page) if not public(m, n)] == [
        ("deepissues.attacks.minimal", "nearest_boundary"), ("deepissues.training", "_check_xy")]


# ----- the module behind a figure ----------------------------------------------------------------

INFRASTRUCTURE = {"deepissues", "deepissues.repro", "deepissues.checks", "deepissues.claims", "deepissues.glue",
                  "deepissues.plotting", "deepissues.widgets", "deepissues.progress", "deepissues.training",
                  "deepissues.nets", "deepissues.data", "deepissues.stats", "deepissues.autodiff"}


def chapters_named(docstring):
    """The chapters a docstring's first line names: "Chapter 01, ...", "Chapters 05–06, ...",
    "Chapters 02 and 13, ..."."""
    first = (docstring or "").splitlines()[0] if docstring else ""
    match = re.match(r"Chapters? (\d\d(?:(?:–|, | and )\d\d)*)", first)
    if not match:
        return set()
    named = set()
    for part in re.split(r", | and ", match.group(1)):
        lo, _, hi = part.partition("–")
        named |= {f"{n:02d}" for n in range(int(lo), int(hi or lo) + 1)}
    return named


def origin(module, name):
    if is_submodule(module, name):
        return f"{module}.{name}"
    found = getattr(getattr(importlib.import_module(module), name), "__module__", None)
    return found if found and found.startswith("deepissues") else module


def chapters_using():
    uses = {}
    for page in sorted((ROOT / "notebooks").glob("*.md")):
        for module, name in notebook_uses(page):
            uses.setdefault(origin(module, name), set()).add(page.name[:2])
    return uses


@pytest.mark.parametrize("name", [m for m in MODULES if m not in INFRASTRUCTURE])
def test_each_topic_module_opens_with_the_chapters_it_serves(name):
    named = chapters_named(importlib.import_module(name).__doc__)
    assert named, f"{name}'s docstring does not open with its chapters ('Chapter NN, topic.')"
    unnamed = chapters_using().get(name, set()) - named
    assert not unnamed, f"{name} serves chapters {sorted(unnamed)} that its docstring does not name"


def test_chapters_named_reads_ranges_and_lists():
    assert chapters_named("Chapters 05–07, attacks.\n\nMore.") == {"05", "06", "07"}
    assert chapters_named("Chapters 02 and 13, x.") == {"02", "13"}
    assert chapters_named("Linear regions.") == set()  # control: no chapter line, nothing named


# ----- documented --------------------------------------------------------------------------------

def public_callables():
    found = {}
    for name in ["deepissues"] + MODULES:
        module = importlib.import_module(name)
        for attr in module.__all__:
            obj = getattr(module, attr)
            if callable(obj):
                found[id(obj)] = (f"{obj.__module__}.{obj.__qualname__}", obj)
    return sorted(found.values(), key=lambda item: item[0])


def documented_parameters(doc):
    """The names a numpydoc Parameters (or, for a dataclass, Attributes) section lists ("x : ...",
    "eps, norm : ...")."""
    match = re.search(r"^(?:Parameters|Attributes)\n-+\n(.*?)(?:^\w[\w ]*\n-+\n|\Z)", doc, re.M | re.S)
    if not match:
        return None
    names = set()
    for line in match.group(1).splitlines():
        entry = re.match(r"^(\*{0,2}[A-Za-z_][\w, *]*?)\s*:", line)
        if entry and not line.startswith(" "):
            names |= {n.strip().lstrip("*") for n in entry.group(1).split(",")}
    return names


def returns_a_value(obj):
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (OSError, TypeError):
        return False
    body = tree.body[0]
    return any(isinstance(n, (ast.Return, ast.Yield)) and n.value is not None for n in ast.walk(body)
               if not isinstance(n, ast.Lambda))


def documentation_gaps(name, obj):
    doc = inspect.getdoc(obj) or ""
    if inspect.isclass(obj):
        params = [p for p in inspect.signature(obj).parameters if p not in ("args", "kwargs")] \
            if not issubclass(obj, BaseException) and "__init__" in vars(obj) or is_dataclass(obj) else []
    else:
        params = [p for p in inspect.signature(obj).parameters]
    gaps = []
    listed = documented_parameters(doc)
    if params and listed is None:
        gaps.append("no Parameters section")
    elif params and set(params) - listed - {"self"}:
        gaps.append(f"parameters not documented: {sorted(set(params) - listed - {'self'})}")
    if not inspect.isclass(obj) and returns_a_value(obj) and not re.search(r"^(Returns|Yields)\n-+", doc, re.M):
        gaps.append("no Returns section")
    return gaps


def test_every_public_callable_documents_its_parameters_and_what_it_returns():
    gaps = {name: documentation_gaps(name, obj) for name, obj in public_callables()}
    gaps = {name: found for name, found in gaps.items() if found}
    assert not gaps, f"{len(gaps)} public callables lack numpydoc sections:\n" + "\n".join(
        f"{name}: {'; '.join(found)}" for name, found in gaps.items())


def test_documentation_gaps_are_found():
    """Control: a function documented in prose only has both gaps."""
    def prose_only(x, eps):
        """Return x moved by eps."""
        return x + eps

    def numpydoc(x, eps):
        """Move x.

        Parameters
        ----------
        x, eps : float

        Returns
        -------
        float
        """
        return x + eps

    assert documentation_gaps("p", prose_only) == ["no Parameters section", "no Returns section"]
    assert documentation_gaps("n", numpydoc) == []
