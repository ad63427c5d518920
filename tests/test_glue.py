import sys

import pytest

from deepissues.glue import glue


def test_glue_records_the_value_for_myst_nb(monkeypatch):
    shown = []
    monkeypatch.setattr("myst_nb.ext.glue.ipy_display", lambda bundle, raw, metadata: shown.append((bundle, metadata)))
    assert glue("clean_accuracy", 0.953) == 0.953
    bundle, metadata = shown[-1]
    assert metadata["scrapbook"]["name"] == "clean_accuracy"
    assert bundle["application/papermill.record/text/plain"] == "0.953"  # hidden: display=False


def test_without_myst_nb_the_value_is_printed(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # an import of myst_nb now fails, as on Colab
    assert glue("steps", 3000) == 3000
    assert capsys.readouterr().out == "steps = 3000\n"


def test_glue_names_must_be_identifiers():
    with pytest.raises(ValueError, match="name must be a Python identifier.*'two words'"):
        glue("two words", 1)
