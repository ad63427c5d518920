import math

import numpy as np
import pytest

from deepissues.checks import nonnegative, positive_int


def test_positive_int_accepts_ints_and_numpy_ints_and_refuses_the_rest():
    assert positive_int("n", 3) == 3 and positive_int("n", np.int64(2)) == 2 and positive_int("k", 0, least=0) == 0
    for bad in (0, -1, 2.0, True, "3", None):
        with pytest.raises(ValueError, match=r"n must be an int >= 1, got"):
            positive_int("n", bad)


def test_nonnegative_refuses_negative_nan_and_zero_when_strict():
    assert nonnegative("eps", 0.0) == 0.0 and nonnegative("eps", np.float32(0.5)) == np.float32(0.5)
    for bad in (-1e-9, math.nan, False, "0.1"):
        with pytest.raises(ValueError, match="eps must be a number >= 0"):
            nonnegative("eps", bad)
    with pytest.raises(ValueError, match="lr must be a number > 0"):
        nonnegative("lr", 0.0, strict=True)


def test_one_list_of_norms_and_unknown_names_are_refused():
    from deepissues import attacks
    from deepissues.checks import NORMS, check_norm

    assert attacks.NORMS is NORMS and check_norm("l2") == "l2"
    with pytest.raises(ValueError, match=r"norm must be one of \('l1', 'l2', 'linf'\), got 'L2'"):
        check_norm("L2")
