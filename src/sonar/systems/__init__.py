"""The system side: knobs and transformations applied to a built model from outside it."""
