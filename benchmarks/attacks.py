"""Our attacks against ART, foolbox and torchattacks: time and strength on the same model and points.

Run with ``.venv/bin/python benchmarks/attacks.py`` after ``make test`` (which installs ART and
foolbox) and ``.venv/bin/pip install --no-deps torchattacks==3.5.1`` (its dependencies would
pull in torchvision). Peers that are missing are skipped.

For bounded attacks the table gives robust accuracy (lower is stronger); for minimal-norm
attacks, the median norm over correctly classified points, failures counted as infinite
(lower is stronger). Times are wall-clock seconds for all points, best of three (one for runs over 2 s).
"""

import time
import warnings

import torch

from deepissues import attacks as A
from deepissues import data, nets, repro, training

warnings.filterwarnings("ignore")


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


def main(n_points=200):
    repro.seed_everything(0)
    split = data.digits()
    model = nets.mlp([64, 64, 10])
    training.fit(model, split.x_train, split.y_train, epochs=30, progress=False)
    model.eval()
    x, y = split.x_test[:n_points], split.y_test[:n_points]
    libraries = {"deepissues": ours(model), **peers(model)}
    print(f"digits MLP 64-64-10, {len(x)} test points, clean accuracy {robust(model, x, y, x):.3f}\n")
    print(f"{'task':<16} {'library':<13} {'seconds':>8} {'strength':>9}  (robust acc. or median norm)")
    for task in ours(model):
        for name, attacks in libraries.items():
            if task not in attacks:
                continue
            seconds, x_adv = best_time(lambda: attacks[task](x, y))
            norm = task.split()[1]
            strength = (median_norm(model, x, y, x_adv, norm) if task.split()[0] in ("DeepFool", "C&W", "minimal")
                        else robust(model, x, y, x_adv))
            print(f"{task:<16} {name:<13} {seconds:8.3f} {strength:9.4f}")
        print()


if __name__ == "__main__":
    main()
