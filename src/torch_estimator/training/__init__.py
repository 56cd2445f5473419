"""train_and_evaluate: TrainSpec, EvalSpec, the roles chosen from the task type, and exporters."""

__all__: list[str] = []
