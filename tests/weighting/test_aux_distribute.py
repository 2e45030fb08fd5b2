"""GCS and OL-AUX under MirroredStrategy (two logical CPUs) equal one device.

Runs `tests/distribute_script.py` (where task "r" is auxiliary) in a
subprocess, on batches with missing labels (one batch has no label of the
multiclass task), for two epochs so that OL-AUX updates its weights (after
its 5th step).
"""

import pytest

from tests.test_distribute import _assert_same_run, _run_mirrored

# One per mode (kept small); test_distribute.py runs every gradient method in both
# modes for one epoch.
METHODS = ["gcs_weighted@representation", "ol_aux@parameters"]


@pytest.mark.slow
def test_auxiliary_methods_under_mirrored_strategy_match_one_device():
    runs = _run_mirrored(METHODS, "--epochs", "2", timeout=300)
    assert sorted(runs) == sorted(METHODS)
    for method, pair in runs.items():
        _assert_same_run(pair["single"], pair["mirrored"], method, rtol=1e-4, atol=1e-5)
    # The main tasks "c" and "m" get weight 1 whenever present; OL-AUX's weight of the
    # auxiliary task "r" is 1 until its first update (step 5), then moves.
    single = runs["ol_aux@parameters"]["single"]["history"]
    assert single["c_weight"] == [1.0, 1.0]
    assert single["r_weight"][0] == 1.0 and single["r_weight"][1] != 1.0
