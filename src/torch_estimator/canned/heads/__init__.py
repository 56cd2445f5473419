"""Heads: a loss, predictions, export outputs and eval metrics from logits, per problem type."""

__all__: list[str] = []
