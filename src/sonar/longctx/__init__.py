"""Length generalization: loss by position far past the training length, and synthetic retrieval."""
