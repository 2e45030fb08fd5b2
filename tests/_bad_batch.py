"""The check that a batch the value check rejects changes no variable of a model."""

import numpy as np
import pytest


def assert_rejected_and_unchanged(model, bad, match):
    """`model.fit(bad)` raises a `ValueError` matching `match`, and no variable moved.

    Compares every variable of the model (weights, non-trainable state, the
    weighting strategy's) and of its optimizer (slots, iteration count)
    before and after.
    """
    before = [v.numpy().copy() for v in model.variables + model.optimizer.variables]
    with pytest.raises(ValueError, match=match):
        model.fit(bad, epochs=1, verbose=0)
    after = [v.numpy() for v in model.variables + model.optimizer.variables]
    assert len(after) == len(before)
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
