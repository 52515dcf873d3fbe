"""The peers' joint space (bench/joint_space.py) reaches every candidate of a table, whatever fields its space
varies."""

import dataclasses

from tiny_tables import table

from sonar.bench.joint_space import ARCH_PREFIX, JointSpace


def test_candidates_that_differ_only_outside_the_built_in_grids_fields_stay_apart():
    # A --space may vary fields the built-in grid does not (here the FFN width): read on the grid's fields alone,
    # the three looked alike and every peer trial decoded to the first.
    rows = table([("c000", 3.0, [0.5]), ("c001", 2.0, [0.5]), ("c002", 2.5, [0.5])])
    rows = dataclasses.replace(rows, candidates=tuple(
        dataclasses.replace(c, model=c.model.replace(num_hidden_layers=2, intermediate_size=64 * (i + 1)))
        for i, c in enumerate(rows.candidates)))
    space = JointSpace(rows)
    assert ARCH_PREFIX + "intermediate_size" in space.choices
    assert len(space.choices[ARCH_PREFIX + "intermediate_size"]) == 3
    reached = {space.decode({name: values[i] for name, values in space.choices.items()
                             if name.startswith(ARCH_PREFIX)})[0] for i in range(3)}
    assert reached == {"c000", "c001", "c002"}
