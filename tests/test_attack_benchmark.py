"""The attack benchmark that chapter 05 includes: its table is the rendering of its measurements,
its model and points are still the chapter's, and its findings follow from the numbers."""

import importlib.util
import json
import math

import pytest

from .built_book import ROOT

spec = importlib.util.spec_from_file_location("attack_benchmark", ROOT / "benchmarks" / "attacks.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

RESULTS = json.loads(bench.RESULTS.read_text())
# Another CPU's floating point may flip one borderline digit of the same model; more is another model.
ONE_POINT = 1 / RESULTS["points"] + 1e-9


def fake(rows):
    """Results with the given {task: {library: strength}}, every attack taking 1 s except ours (0.5 s)."""
    return {"rows": [{"task": task, "library": name, "strength": s, "seconds": 0.5 if name == "deepissues" else 1.0,
                      "fooled": 0.0 if math.isinf(s) else 1.0}
                     for task, strengths in rows.items() for name, s in strengths.items()],
            "provenance": RESULTS["provenance"], "points": 3, "clean_accuracy": 1.0, "model": "m"}


def test_the_included_table_is_the_rendering_of_the_recorded_measurements():
    assert bench.TABLE.read_text() == bench.markdown(RESULTS), "run `python benchmarks/attacks.py --render`"
    provenance = RESULTS["provenance"]
    assert provenance["date"] in bench.TABLE.read_text() and provenance["peers"]["ART"]
    assert {r["task"] for r in RESULTS["rows"]} == set(bench.TASKS)


def test_the_recorded_model_is_the_one_the_library_trains_today():
    model, x, y = bench.chapter_model()
    assert len(x) == RESULTS["points"]
    assert bench.robust(model, x, y, x) == pytest.approx(RESULTS["clean_accuracy"], abs=ONE_POINT), \
        "the chapter's model has changed since the benchmark ran: run benchmarks/attacks.py again"


def test_findings_name_agreement_the_strongest_and_the_quicker_peer():
    same = fake({"FGSM linf 0.1": {"deepissues": 0.5, "ART": 0.5004},
                 "C&W l2": {"deepissues": 0.7, "ART": 0.6, "foolbox": math.inf}})
    text = bench.findings(same)
    assert "finds the same strength, within 0.001, on FGSM, L∞ 0.1." in text
    assert "- C&W L2, 5 × 50 steps: strongest ART (ours 0.700, ART 0.600, foolbox ∞)." in text
    assert "foolbox' C&W L2, 5 × 50 steps fooled 0% of all points" in text
    assert "Ours is the fastest on 2 of 2 attacks." in text
    # control: a gap of twice the tolerance is a difference, and a quicker peer is named
    differ = fake({"FGSM linf 0.1": {"deepissues": 0.5, "ART": 0.502}})
    differ["rows"][1]["seconds"] = 0.1
    text = bench.findings(differ)
    assert "same strength" not in text and "- FGSM, L∞ 0.1: strongest ours (ours 0.500, ART 0.502)." in text
    assert "quicker than ours: ART on FGSM, L∞ 0.1, by 400.0 ms" in text


def test_the_table_bolds_a_winner_only_where_the_libraries_disagree():
    lines = bench.table(fake({"FGSM linf 0.1": {"deepissues": 0.5, "ART": 0.5},
                              "PGD linf 0.1": {"deepissues": 0.4, "ART": 0.45, "foolbox": 0.4005}})).splitlines()
    assert lines[0] == "| attack | measure | deepissues | ART | foolbox |"
    assert lines[2] == "| FGSM, L∞ 0.1 | robust acc. | 0.500 (**0.500**) | 0.500 (1.0) | — |"
    assert lines[3] == "| PGD, L∞ 0.1, 40 steps | robust acc. | **0.400** (**0.500**) | 0.450 (1.0) | **0.401** (1.0) |"
    assert lines[4].endswith("| — | — | — |"), "a task no library ran shows a dash"


@pytest.mark.book
def test_the_table_is_of_the_model_and_points_the_chapter_built():
    glue_file = ROOT / "_build" / "jupyter_execute" / "notebooks" / "05-adversarial-examples.glue.json"
    if not glue_file.exists():
        pytest.fail(f"{glue_file} is missing: run `make book`", pytrace=False)
    glued = {name: output["data"]["text/plain"] for name, output in json.loads(glue_file.read_text()).items()}
    assert int(glued["test_points"]) == RESULTS["points"]
    assert float(glued["clean_accuracy"]) == pytest.approx(RESULTS["clean_accuracy"], abs=ONE_POINT)
