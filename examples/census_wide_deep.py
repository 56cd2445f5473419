"""Wide & deep income prediction on census-style data, streamed from CSV files.

A census-income-like table (age, education, occupation, gender, hours per week) is generated with a
planted model of the probability that income is above 50K: main effects of every column, a
non-linear age curve, and an education x occupation interaction that only crossed columns or the
deep part can learn. The rows are written to CSV files and read back with ``make_csv_dataset``. A
DNNLinearCombinedClassifier learns it: the wide (linear) part sees the categorical columns, the
bucketized age and the education x occupation cross; the deep part sees embeddings and numbers.

The planted model's own AUC on the test rows is the best any model can reach; the script prints it
next to the learnt model's.

    python examples/census_wide_deep.py
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pandas as pd

import torch_estimator as te

SEED = 0
TRAIN_ROWS = 20000
TEST_ROWS = 5000
TRAIN_STEPS = 1500
ROUNDS = 3

EDUCATION = [
    "Preschool", "1st-4th", "5th-6th", "7th-8th", "9th", "10th", "11th", "12th", "HS-grad",
    "Some-college", "Assoc-voc", "Assoc-acdm", "Bachelors", "Masters", "Prof-school", "Doctorate",
]  # fmt: skip
OCCUPATIONS = [
    "Adm-clerical", "Armed-Forces", "Craft-repair", "Exec-managerial", "Farming-fishing",
    "Handlers-cleaners", "Machine-op-inspct", "Other-service", "Priv-house-serv", "Prof-specialty",
    "Protective-serv", "Sales", "Tech-support", "Transport-moving",
]  # fmt: skip
GENDERS = ["Female", "Male"]
LABEL = "income_bracket"


def planted_logits(frame: pd.DataFrame, interaction: np.ndarray) -> np.ndarray:
    """The log-odds of income > 50K under the planted model."""
    education = frame["education"].map({name: i for i, name in enumerate(EDUCATION)}).to_numpy()
    occupation = frame["occupation"].map({name: i for i, name in enumerate(OCCUPATIONS)}).to_numpy()
    age = frame["age"].to_numpy(dtype=np.float64)
    return (
        -1.2
        + np.linspace(-1.5, 1.5, len(EDUCATION))[education]
        - ((age - 50.0) / 15.0) ** 2  # earnings peak in the fifties
        + 0.04 * (frame["hours_per_week"].to_numpy(dtype=np.float64) - 40.0)
        + 0.4 * (frame["gender"].to_numpy() == "Male")
        + interaction[education, occupation]
    )


def make_data(
    rows: int, rng: np.random.Generator, interaction: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """``rows`` people with a sampled label, and the planted probability of each label."""
    frame = pd.DataFrame(
        {
            "age": rng.integers(17, 91, rows),
            "education": rng.choice(EDUCATION, rows),
            "occupation": rng.choice(OCCUPATIONS, rows),
            "gender": rng.choice(GENDERS, rows),
            "hours_per_week": np.clip(rng.normal(40.0, 12.0, rows), 1, 99).round().astype(np.int64),
        }
    )
    probability = 1.0 / (1.0 + np.exp(-planted_logits(frame, interaction)))
    frame[LABEL] = (rng.random(rows) < probability).astype(np.int64)
    return frame, probability


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive scores above a random negative (ties half)."""
    ranks = pd.Series(scores).rank().to_numpy()
    positives = labels == 1
    count = positives.sum()
    return float((ranks[positives].sum() - count * (count + 1) / 2) / (count * (len(labels) - count)))


def feature_columns() -> tuple[list, list]:
    """(wide columns, deep columns) as in TF's wide & deep census tutorial."""
    fc = te.feature_column
    age = fc.numeric_column("age")
    # The deep part sees numbers scaled to about [-2, 2]: raw ages and hours would slow its training.
    scaled_age = fc.numeric_column("age", normalizer_fn=lambda x: (x - 50.0) / 15.0)
    scaled_hours = fc.numeric_column("hours_per_week", normalizer_fn=lambda x: (x - 40.0) / 12.0)
    education = fc.categorical_column_with_vocabulary_list("education", EDUCATION)
    occupation = fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=100)
    gender = fc.categorical_column_with_vocabulary_list("gender", GENDERS)
    age_buckets = fc.bucketized_column(age, boundaries=[18, 25, 30, 35, 40, 45, 50, 55, 60, 65])
    wide = [
        education,
        occupation,
        gender,
        age_buckets,
        fc.crossed_column(["education", "occupation"], hash_bucket_size=1000),
    ]
    deep = [
        scaled_age,
        scaled_hours,
        fc.indicator_column(education),
        fc.indicator_column(gender),
        fc.embedding_column(occupation, dimension=8),
    ]
    return wide, deep


def main(model_dir: str | None = None) -> dict[str, float]:
    """Generates the data, trains and evaluates; returns the metrics plus ``planted_auc``."""
    rng = np.random.default_rng(SEED)
    interaction = rng.normal(0.0, 1.0, (len(EDUCATION), len(OCCUPATIONS)))
    train, _ = make_data(TRAIN_ROWS, rng, interaction)
    test, test_probability = make_data(TEST_ROWS, rng, interaction)
    planted = auc(test_probability, test[LABEL].to_numpy())
    with tempfile.TemporaryDirectory() as scratch:
        # Two training files: the reader streams them one after the other.
        half = TRAIN_ROWS // 2
        train.iloc[:half].to_csv(os.path.join(scratch, "train-0.csv"), index=False)
        train.iloc[half:].to_csv(os.path.join(scratch, "train-1.csv"), index=False)
        test.to_csv(os.path.join(scratch, "test.csv"), index=False)
        print(
            f"wrote {TRAIN_ROWS} training and {TEST_ROWS} test rows; planted model's test AUC {planted:.4f}"
        )

        def train_input_fn():
            return te.inputs.make_csv_dataset(os.path.join(scratch, "train-*.csv"), 256, label_name=LABEL)

        def eval_input_fn():
            path = os.path.join(scratch, "test.csv")
            return te.inputs.make_csv_dataset(path, 1024, label_name=LABEL, num_epochs=1, shuffle=False)

        wide, deep = feature_columns()
        classifier = te.DNNLinearCombinedClassifier(
            linear_feature_columns=wide,
            dnn_feature_columns=deep,
            dnn_hidden_units=[64, 32],
            dnn_optimizer=te.train.AdagradOptimizer(learning_rate=0.1),
            model_dir=model_dir or os.path.join(scratch, "model"),
            config=te.RunConfig(tf_random_seed=SEED, log_step_count_steps=None),
        )
        metrics: dict[str, float] = {}
        for _ in range(ROUNDS):
            classifier.train(train_input_fn, steps=TRAIN_STEPS // ROUNDS)
            metrics = {key: float(value) for key, value in classifier.evaluate(eval_input_fn).items()}
            print(
                f"step {int(metrics['global_step'])}: auc {metrics['auc']:.4f}, "
                f"accuracy {metrics['accuracy']:.4f}, loss {metrics['loss']:.4f}"
            )
    metrics["planted_auc"] = planted
    return metrics


if __name__ == "__main__":
    main()
