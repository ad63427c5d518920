"""Doctests of the package: they write no claim records into the book's _build folder."""

import pytest


@pytest.fixture(autouse=True)
def claims_in_a_temporary_folder(tmp_path, monkeypatch):
    from deepissues import claims

    monkeypatch.setenv("DEEPISSUES_CLAIMS_DIR", str(tmp_path / "claims"))
    monkeypatch.setitem(claims._current, "chapter", None)
