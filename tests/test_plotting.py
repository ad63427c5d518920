import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from deepissues import expressivity, plotting  # noqa: E402


def test_use_style_sets_the_colour_blind_palette():
    plotting.use_style()
    cycle = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
    assert cycle == plotting.PALETTE
    assert len(set(plotting.PALETTE)) == 8


def test_plot_regions_draws_one_polygon_per_region():
    regions = expressivity.linear_regions_2d(expressivity.montufar_net(1, 2), (0, 1, 0, 1))
    ax = plotting.plot_regions(regions, title="demo")
    (collection,) = ax.collections
    assert len(collection.get_paths()) == len(regions) == 16
    assert ax.get_title() == "demo: 16 regions"
    assert ax.get_xlim() == pytest.approx((0, 1)) and ax.get_ylim() == pytest.approx((0, 1))
    plt.close("all")


def test_plot_regions_refuses_1d_pieces():
    pieces = expressivity.linear_pieces_1d(expressivity.sawtooth_net(2), [0.0], [1.0])
    with pytest.raises(ValueError, match="2-D regions"):
        plotting.plot_regions(pieces)
    assert np.isclose(sum(p.size for p in pieces), 1.0)


def test_describe_refuses_text_that_is_not_a_sentence():
    fig, _ = plt.subplots()
    for text in ("png", "Figure", "A short caption.", "Six words but no full stop here"):
        with pytest.raises(ValueError, match="at least six words"):
            plotting.describe(fig, text)
    plt.close(fig)
