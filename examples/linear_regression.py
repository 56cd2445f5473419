"""A LinearRegressor recovers a planted linear model from noisy data given as a pandas DataFrame.

The data: ``y = 3 x1 - 2 x2 + 0.5 + noise`` with ``x1, x2 ~ U(-1, 1)`` and Gaussian noise of standard
deviation ``NOISE`` (0.1). No model can beat the noise, so the best root-mean-squared error on fresh
data is about 0.1; the script prints the learnt weights next to the planted ones.

    python examples/linear_regression.py
"""

from __future__ import annotations

import math
import tempfile

import numpy as np
import pandas as pd

import torch_estimator as te

SEED = 0
NOISE = 0.1
WEIGHTS = {"x1": 3.0, "x2": -2.0}
BIAS = 0.5
TRAIN_STEPS = 1000


def make_data(rows: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.Series]:
    """``rows`` examples of the planted model."""
    frame = pd.DataFrame({name: rng.uniform(-1.0, 1.0, rows).astype(np.float32) for name in WEIGHTS})
    target = sum(weight * frame[name] for name, weight in WEIGHTS.items()) + BIAS
    return frame, (target + rng.normal(0.0, NOISE, rows)).astype(np.float32)


def main(model_dir: str | None = None) -> dict[str, float]:
    """Trains and evaluates the regressor; returns the evaluation metrics plus ``rmse``."""
    rng = np.random.default_rng(SEED)
    train_x, train_y = make_data(4000, rng)
    test_x, test_y = make_data(1000, rng)
    with tempfile.TemporaryDirectory() as scratch:
        regressor = te.LinearRegressor(
            feature_columns=[te.feature_column.numeric_column(name) for name in WEIGHTS],
            optimizer=te.train.FtrlOptimizer(learning_rate=0.5),
            model_dir=model_dir or scratch,
            config=te.RunConfig(tf_random_seed=SEED, log_step_count_steps=None),
        )
        print(f"training for {TRAIN_STEPS} steps")
        regressor.train(
            te.inputs.pandas_input_fn(train_x, train_y, batch_size=64, num_epochs=None, shuffle=True),
            steps=TRAIN_STEPS,
        )
        metrics = {
            key: float(value)
            for key, value in regressor.evaluate(
                te.inputs.pandas_input_fn(test_x, test_y, shuffle=False)
            ).items()
        }
        metrics["rmse"] = math.sqrt(metrics["average_loss"])
        for name, weight in WEIGHTS.items():
            learnt = float(np.ravel(regressor.get_variable_value(f"linear/linear_model/{name}/weights"))[0])
            print(f"{name}: learnt {learnt:+.3f}, planted {weight:+.3f}")
        print(f"rmse {metrics['rmse']:.4f} (noise floor {NOISE})")
    return metrics


if __name__ == "__main__":
    main()
