"""Our attacks against ART, foolbox and torchattacks: time and strength on chapter 05's own model and points.

    .venv/bin/pip install --no-deps torchattacks==3.5.1   # its dependencies would pull in torchvision
    .venv/bin/python benchmarks/attacks.py                # about 5 minutes on 2 cores

`make test` installs ART and foolbox; a peer that is missing is left out of the table. The run
writes ``benchmarks/attacks.json`` (every measurement, with the date, the machine and the
library versions) and ``benchmarks/attacks.md``, the table and findings chapter 05 includes.
``--render`` rewrites the Markdown from the JSON without measuring again.

The model and points are the chapter's at the default scale and seed: the 64-64-10 MLP trained
with seed 0 for 30 epochs on the 8x8 digits, and the first 300 test digits. The tests check that
the recorded clean accuracy is what the library reproduces today, and the book test that it is
what the chapter glued, so a table measured on another model fails them.

For bounded attacks the strength is robust accuracy; for minimal-norm attacks, the median norm
over correctly classified points, failures counted as infinite. Lower is stronger for both.
Times are wall-clock seconds for all points, best of three (one for runs over 2 s).
"""

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from deepissues import attacks as A
from deepissues import data, nets, repro, training

HERE = Path(__file__).resolve().parent
RESULTS, TABLE = HERE / "attacks.json", HERE / "attacks.md"
N_POINTS, WIDTHS, EPOCHS, SEED = 300, [64, 64, 10], 30, 0
LIBRARIES = ("deepissues", "ART", "foolbox", "torchattacks")
PEER_PACKAGES = {"ART": "adversarial-robustness-toolbox", "foolbox": "foolbox", "torchattacks": "torchattacks"}
# task -> (row label, measure); a minimal-norm row names each library's algorithm: ours is FAB
TASKS = {
    "FGSM linf 0.1": ("FGSM, L∞ 0.1", "robust acc."),
    "PGD linf 0.1": ("PGD, L∞ 0.1, 40 steps", "robust acc."),
    "PGD l2 1.0": ("PGD, L2 1.0, 40 steps", "robust acc."),
    "Square linf 0.1": ("Square, L∞ 0.1, 1000 queries", "robust acc."),
    "DeepFool l2": ("DeepFool, L2", "median ‖δ‖₂"),
    "C&W l2": ("C&W L2, 5 × 50 steps", "median ‖δ‖₂"),
    "minimal l2": ("minimal L2 (ours FAB; foolbox DDN; torchattacks FAB)", "median ‖δ‖₂"),
    "minimal l1": ("minimal L1 (ours FAB; foolbox FMN)", "median ‖δ‖₁"),
    "minimal linf": ("minimal L∞ (ours FAB; foolbox FMN; torchattacks FAB)", "median ‖δ‖∞"),
}
SAME_ALGORITHM = 0.001  # strengths this close count as the same answer (a third of a point of accuracy)


def best_time(run, repeats=3):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
        if times[-1] > 2:   # slow runs vary little; one is enough
            break
    return min(times), out


def robust(model, x, y, x_adv):
    with torch.no_grad():
        return float(((model(x).argmax(1) == y) & (model(x_adv).argmax(1) == y)).float().mean())


def median_norm(model, x, y, x_adv, norm):
    with torch.no_grad():
        correct = model(x).argmax(1) == y
        fooled = model(x_adv).argmax(1) != y
    n = A.perturbation_norms(x, x_adv)[norm].masked_fill(~fooled, float("inf"))
    return float(n[correct].median())


def chapter_model():
    """Chapter 05's model and test points at the default scale and seed: (model, x, y)."""
    repro.seed_everything(SEED)
    split = data.digits()
    model = nets.mlp(WIDTHS)
    training.fit(model, split.x_train, split.y_train, epochs=EPOCHS, seed=SEED, progress=False)
    return model.eval(), split.x_test[:N_POINTS], split.y_test[:N_POINTS]


def peers(model):
    """name -> {task: callable(x, y) -> x_adv} for each installed peer."""
    found = {}
    try:
        from art.attacks import evasion as ae
        from art.estimators.classification import PyTorchClassifier
        clf = PyTorchClassifier(model, loss=torch.nn.CrossEntropyLoss(), input_shape=(64,), nb_classes=10,
                                clip_values=(0.0, 1.0))

        clf_images = PyTorchClassifier(torch.nn.Sequential(torch.nn.Flatten(), model), input_shape=(1, 8, 8),
                                       loss=torch.nn.CrossEntropyLoss(), nb_classes=10, clip_values=(0.0, 1.0))

        def art(attack, shape=(-1, 64)):
            return lambda x, y: torch.from_numpy(attack.generate(x.view(shape).numpy(), y=y.numpy())).flatten(1)
        found["ART"] = {
            "FGSM linf 0.1": art(ae.FastGradientMethod(clf, eps=0.1)),
            "PGD linf 0.1": art(ae.ProjectedGradientDescent(clf, eps=0.1, eps_step=0.01, max_iter=40,
                                                            num_random_init=0, verbose=False)),
            "PGD l2 1.0": art(ae.ProjectedGradientDescent(clf, norm=2, eps=1.0, eps_step=0.1, max_iter=40,
                                                          num_random_init=0, verbose=False)),
            "Square linf 0.1": art(ae.SquareAttack(clf_images, eps=0.1, max_iter=1000, nb_restarts=1, verbose=False),
                                  (-1, 1, 8, 8)),
            "DeepFool l2": art(ae.DeepFool(clf, max_iter=50, verbose=False)),
            "C&W l2": art(ae.CarliniL2Method(clf, binary_search_steps=5, max_iter=50, initial_const=1.0,
                                             verbose=False)),
        }
    except ImportError:
        pass
    try:
        import foolbox as fb
        fm = fb.PyTorchModel(model, bounds=(0, 1))

        def fool(attack, eps=None):
            return lambda x, y: attack(fm, x, y, epsilons=eps)[1]
        found["foolbox"] = {
            "FGSM linf 0.1": fool(fb.attacks.FGSM(), 0.1),
            "PGD linf 0.1": fool(fb.attacks.LinfPGD(abs_stepsize=0.01, steps=40, random_start=False), 0.1),
            "PGD l2 1.0": fool(fb.attacks.L2PGD(abs_stepsize=0.1, steps=40, random_start=False), 1.0),
            "DeepFool l2": fool(fb.attacks.L2DeepFoolAttack()),
            "C&W l2": fool(fb.attacks.L2CarliniWagnerAttack(binary_search_steps=5, steps=50, initial_const=1.0)),
            "minimal l2": fool(fb.attacks.DDNAttack()),
            "minimal l1": fool(fb.attacks.L1FMNAttack()),
            "minimal linf": fool(fb.attacks.LInfFMNAttack()),
        }
    except ImportError:
        pass
    try:
        import torchattacks as ta
        # torchattacks assumes image batches (N, C, H, W): give it the 8x8 images and flatten inside
        model = torch.nn.Sequential(torch.nn.Flatten(), model)

        def images(attack):
            return lambda x, y: attack(x.view(-1, 1, 8, 8), y).flatten(1)
        found["torchattacks"] = {
            "FGSM linf 0.1": images(ta.FGSM(model, eps=0.1)),
            "PGD linf 0.1": images(ta.PGD(model, eps=0.1, alpha=0.01, steps=40, random_start=False)),
            "PGD l2 1.0": images(ta.PGDL2(model, eps=1.0, alpha=0.1, steps=40, random_start=False)),
            "Square linf 0.1": images(ta.Square(model, eps=0.1, n_queries=1000, n_restarts=1)),
            "DeepFool l2": images(lambda x, y: ta.DeepFool(model, steps=50, overshoot=0.02)(x, y)),
            "C&W l2": images(ta.CW(model, c=1.0, steps=50, lr=0.01)),
            "minimal l2": images(ta.FAB(model, norm="L2", steps=20, n_restarts=1, n_classes=10)),
            "minimal linf": images(ta.FAB(model, norm="Linf", steps=20, n_restarts=1, n_classes=10)),
        }
    except ImportError:
        pass
    return found


def ours(model):
    first = lambda atk: (lambda x, y: atk(x, y)[0])  # noqa: E731  minimal-norm attacks return (x_adv, success)
    return {
        "FGSM linf 0.1": A.FGSM(model, eps=0.1),
        "PGD linf 0.1": A.PGD(model, eps=0.1, alpha=0.01, steps=40, random_start=False),
        "PGD l2 1.0": A.PGD(model, eps=1.0, alpha=0.1, steps=40, random_start=False, norm="l2"),
        "Square linf 0.1": A.Square(model, eps=0.1, n_queries=1000),
        "DeepFool l2": first(A.DeepFool(model)),
        "C&W l2": first(A.CarliniWagnerL2(model, steps=50, search_steps=5)),
        "minimal l2": first(A.MinimalPerturbation(model, norm="l2")),
        "minimal l1": first(A.MinimalPerturbation(model, norm="l1")),
        "minimal linf": first(A.MinimalPerturbation(model, norm="linf")),
    }


def provenance():
    """Where and with what the run was measured: date, machine, versions and commit."""
    def installed(package):
        try:
            return version(package)
        except PackageNotFoundError:
            return None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
    return {"date": datetime.date.today().isoformat(),
            "machine": f"{os.cpu_count()} CPU cores ({platform.machine()}), {torch.get_num_threads()} torch threads",
            "python": platform.python_version(), "torch": torch.__version__,
            "peers": {name: installed(package) for name, package in PEER_PACKAGES.items()},
            "commit": commit.stdout.strip() or "unknown"}


def measure():
    """Every (task, library) on the chapter's model: seconds, strength and the share of points fooled."""
    warnings.filterwarnings("ignore")  # the peers' deprecation chatter, not ours
    model, x, y = chapter_model()
    libraries = {"deepissues": ours(model), **peers(model)}
    rows = []
    for task in TASKS:
        for name, attacks in libraries.items():
            if task in attacks:
                seconds, x_adv = best_time(lambda: attacks[task](x, y))
                norm = task.split()[1]
                bounded = TASKS[task][1] == "robust acc."
                strength = robust(model, x, y, x_adv) if bounded else median_norm(model, x, y, x_adv, norm)
                with torch.no_grad():
                    fooled = float((model(x_adv).argmax(1) != y).float().mean())
                rows.append({"task": task, "library": name, "seconds": seconds, "strength": strength,
                             "fooled": fooled})
                print(f"{task:<16} {name:<13} {seconds:8.3f} s  strength {strength:.4f}", flush=True)
    return {"provenance": provenance(), "points": len(x), "clean_accuracy": robust(model, x, y, x),
            "model": f"MLP {'-'.join(map(str, WIDTHS))}, seed {SEED}, {EPOCHS} epochs", "rows": rows}


def _strength(value):
    return "∞" if math.isinf(value) else f"{value:.3f}"


def _seconds(value):
    return f"{value:.3f}" if value < 1 else f"{value:.1f}" if value < 10 else f"{value:.0f}"


def _cell(row, best_strength, best_time):
    """'strength (seconds)', bold where within SAME_ALGORITHM of the strongest, or as fast as the fastest."""
    strength, seconds = _strength(row["strength"]), _seconds(row["seconds"])
    if row["strength"] - best_strength <= SAME_ALGORITHM:
        strength = f"**{strength}**"
    if seconds == _seconds(best_time):  # as fast, at the precision shown
        seconds = f"**{seconds}**"
    return f"{strength} ({seconds})"


def table(results):
    """The Markdown table: a row per task, a column per library, cells 'strength (seconds)'."""
    names = [n for n in LIBRARIES if any(r["library"] == n for r in results["rows"])]
    lines = ["| attack | measure | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for task, (label, measure) in TASKS.items():
        rows = {r["library"]: r for r in results["rows"] if r["task"] == task}
        if not rows:
            lines.append(f"| {label} | {measure} | " + " | ".join("—" for _ in names) + " |")
            continue
        strengths = [r["strength"] for r in rows.values()]
        # bold marks the strongest only where the libraries disagree
        best_strength = min(strengths) if max(strengths) - min(strengths) > SAME_ALGORITHM else -math.inf
        best_time = min(r["seconds"] for r in rows.values())
        cells = [_cell(rows[n], best_strength, best_time) if n in rows else "—" for n in names]
        lines.append(f"| {label} | {measure} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _names(libraries):
    names = ["ours" if n == "deepissues" else n for n in libraries]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def findings(results):
    """Sentences computed from the measurements: where the libraries agree, who is strongest, who is fastest."""
    by_task = {task: {r["library"]: r for r in results["rows"] if r["task"] == task} for task in TASKS}
    by_task = {task: rows for task, rows in by_task.items() if "deepissues" in rows}
    agree, lines = [], []
    for task, rows in by_task.items():
        best = min(r["strength"] for r in rows.values())
        tied = [n for n, r in rows.items() if r["strength"] - best <= SAME_ALGORITHM]
        if len(rows) > 1 and len(tied) == len(rows):
            agree.append(TASKS[task][0])
        elif len(rows) > 1:
            values = ", ".join(f"{_names([n])} {_strength(r['strength'])}" for n, r in rows.items())
            lines.append(f"- {TASKS[task][0]}: strongest {_names(tied)} ({values}).")
    if agree:
        lines.insert(0, f"- Every library that runs it finds the same strength, within {SAME_ALGORITHM}, on "
                        + "; ".join(agree) + ".")
    quicker = [(t, n, rows["deepissues"]["seconds"] - r["seconds"]) for t, rows in by_task.items()
               for n, r in rows.items() if r["seconds"] < rows["deepissues"]["seconds"]]
    fastest = sum(1 for rows in by_task.values() if min(rows.values(), key=lambda r: r["seconds"])["library"] == "deepissues")
    lines.append(f"- Ours is the fastest on {fastest} of {len(by_task)} attacks"
                 + ("; quicker than ours: " + "; ".join(f"{n} on {TASKS[t][0]}, by {1000 * d:.1f} ms" for t, n, d in quicker)
                    if quicker else "") + ".")
    unfooled = [(t, n, r["fooled"]) for t, rows in by_task.items() for n, r in rows.items()
                if TASKS[t][1] != "robust acc." and math.isinf(r["strength"])]
    if unfooled:
        lines.append("- ∞ means fewer than half of the correctly classified points were fooled: "
                     + "; ".join(f"{n}' {TASKS[t][0].split(' (')[0]} fooled {f:.0%} of all points" for t, n, f in unfooled) + ".")
    return "\n".join(lines)


def markdown(results):
    """The file chapter 05 includes: when and where, the table, and the findings."""
    p = results["provenance"]
    peers_ = ", ".join(f"{n} {v}" for n, v in p["peers"].items() if v)
    return (f"Measured on {p['date']} on {p['machine']}, with Python {p['python']}, torch {p['torch']}, {peers_} "
            f"(commit {p['commit']}), by `benchmarks/attacks.py` on the chapter's {results['model']} "
            f"and its first {results['points']} test digits (clean accuracy {results['clean_accuracy']:.3f}). "
            f"Each cell gives the strength, then the wall time in seconds for all the points; bold marks the "
            f"strongest where the libraries disagree, and the fastest; \"—\" where the library has no such "
            f"attack, ∞ where it fooled fewer than half of the points, so that the median is infinite.\n\n"
            f"{table(results)}\n\n{findings(results)}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="store_true", help="rewrite attacks.md from attacks.json, measuring nothing")
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads(RESULTS.read_text())
    else:
        results = measure()
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    TABLE.write_text(markdown(results))
    print(f"wrote {TABLE.relative_to(HERE.parent)}", file=sys.stderr)


if __name__ == "__main__":
    main()
