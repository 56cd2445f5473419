"""Canned linear estimators: a model_fn built from a head and a network."""

__all__: list[str] = []
