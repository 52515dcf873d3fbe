"""The job records' shared vocabulary: a diverged training job's failure is told from any other."""

from sonar.search.records import diverged_failure, is_diverged


def test_a_diverged_train_failure_is_recognised_and_other_failures_are_not():
    assert is_diverged(diverged_failure(float("nan"), 48))
    assert diverged_failure(float("inf"), 8) == "NaN: val loss inf at step 8"
    for other in (None, "", "CUDA out of memory", "NaNny worker died", "killed: NaN seen in logs"):
        assert not is_diverged(other)
