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


def test_numpy_and_torch_scalars_are_glued_as_python_numbers(monkeypatch):
    import numpy as np
    import torch

    shown = []
    monkeypatch.setattr("myst_nb.ext.glue.ipy_display", lambda bundle, raw, metadata: shown.append(bundle))
    for value in (np.float64(0.641), torch.tensor(0.641, dtype=torch.float64)):
        assert glue("ppv", value) == 0.641
        assert shown[-1]["application/papermill.record/text/plain"] == "0.641"  # a literal the prose can format
    # negative control: a plain float is stored as it is
    glue("ppv", 0.5)
    assert shown[-1]["application/papermill.record/text/plain"] == "0.5"
