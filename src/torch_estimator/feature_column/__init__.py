"""``te.feature_column``: tf.feature_column's columns as vectorised transforms over a batch of features."""

__all__: list[str] = []
