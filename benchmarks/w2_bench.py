"""W2 wide-deep-ctr: te.DNNLinearCombinedClassifier over feature columns vs a hand-written PyTorch model.

    python benchmarks/w2_bench.py [--reps 3] [--profile train|evaluate|predict]

The workload of the tf.estimator anchors (../shared/bench, README "W2"): 200,704 rows of 13 dense
floats and 26 categorical 8-hex-character strings, batch 1024. Wide part: the 26
``categorical_column_with_hash_bucket`` columns (buckets = min(vocab, 10,000)); deep part:
``embedding_column(dimension=16)`` of them + 13 ``numeric_column`` -> 256 -> 128, ReLU; Adagrad(0.05)
on both parts; sigmoid cross-entropy. The data generator below is the anchors' (same seeds, same
numbers), copied so this script runs on its own.

Measured per repetition, frameworks alternating:
* train examples/s, steady state (from the end of step 30 to the end of step 330);
* examples/s of one whole ``evaluate()`` and one whole ``predict(yield_single_examples=False)``
  call over the full set, after one epoch of training (restore included for the Estimator).
The hand-written side hashes the strings with a vectorised FNV-1a, holds one ``nn.Embedding`` per
column and part (sparse gradients) and one ``torch.optim.Adagrad``, as the anchors' torch-plain.
tf.estimator 2.15's medians (../shared/bench/results.md, same machine kind) are printed beside.
``--profile`` runs one verb of the Estimator under cProfile and torch.profiler and prints the top
entries.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import torch_estimator as te

# ---------------------------------------------------------------- the anchors' constants and data
SEED = 0
W2_B, W2_N = 1024, 1024 * 196  # 200,704 rows = exactly 196 batches
W2_STEPS, W2_WARM = 300, 30
W2_PREP_STEPS = 196  # one epoch before evaluate / predict
W2_VOCABS = np.geomspace(10, 100_000, 26).round().astype(np.int64)
W2_BUCKETS = np.minimum(W2_VOCABS, 10_000)
W2_EMB = 16
W2_LR = 0.05

# tf.estimator 2.15 medians of 9 runs (../shared/bench/results.md, W2 wide-deep-ctr).
TF_TRAIN_EX_PER_S = 52_792.0
TF_EVAL_EX_PER_S = 29_606.0  # whole evaluate() call
TF_PREDICT_EX_PER_S = 37_598.0  # whole predict() call
TF_EVAL_STEADY_EX_PER_S = 100_900.0
TF_PREDICT_STEADY_EX_PER_S = 103_060.0
TF_AUC, TF_ACCURACY = 0.794, 0.78


def widedeep_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """13 dense floats, 26 categorical 8-hex-char strings (Zipf(1.1) over vocab 10..100k), a planted label."""
    rs = np.random.RandomState(SEED)
    n = W2_N
    dense = np.log1p(rs.lognormal(1.0, 1.5, size=(n, 13))).astype(np.float32)
    logit = (dense - dense.mean(0)) @ rs.normal(0.0, 0.4, size=13) - 1.2
    cats = np.empty((n, 26), dtype="S8")
    for j, v in enumerate(W2_VOCABS):
        p = 1.0 / np.arange(1, v + 1) ** 1.1
        ids = rs.choice(v, size=n, p=p / p.sum())
        vocab = np.array([b"%08x" % t for t in rs.randint(0, 2**32, size=v, dtype=np.uint64)], dtype="S8")
        cats[:, j] = vocab[ids]
        if j % 3 == 0:
            logit += rs.normal(0.0, 0.6, size=v)[ids]
    label = (rs.uniform(size=n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    return dense, cats, label


def batches(
    arrays: tuple[np.ndarray, ...], batch: int, shuffle: bool, epochs: int | None = None
) -> Iterator[tuple[np.ndarray, ...]]:
    """The anchors' batcher: row batches, a fresh permutation per epoch when shuffling."""
    n = len(arrays[0])
    rs = np.random.RandomState(SEED)
    epoch = 0
    while epochs is None or epoch < epochs:
        order = rs.permutation(n) if shuffle else np.arange(n)
        for i in range(0, n, batch):
            rows = order[i : i + batch]
            yield tuple(a[rows] for a in arrays)
        epoch += 1


class Timer:
    """Steady-state rate: from the end of batch ``warm`` to the end of the last batch."""

    def __init__(self, warm: int) -> None:
        self.warm, self.count, self.start, self.end = warm, 0, 0.0, 0.0

    def tick(self) -> None:
        self.count += 1
        now = time.perf_counter()
        if self.count == self.warm:
            self.start = now
        self.end = now

    def rate(self, per_step: int = 1) -> float:
        return (self.count - self.warm) * per_step / (self.end - self.start)


# ---------------------------------------------------------------- the Estimator side
def feature_columns() -> tuple[list[Any], list[Any]]:
    """(linear columns, dnn columns) as the tf anchor builds them."""
    fc = te.feature_column
    cats = [fc.categorical_column_with_hash_bucket(f"C{j + 1}", int(b)) for j, b in enumerate(W2_BUCKETS)]
    nums = [fc.numeric_column(f"I{i + 1}") for i in range(13)]
    return cats, nums + [fc.embedding_column(c, W2_EMB) for c in cats]


def make_estimator(model_dir: str) -> Any:
    linear, dnn = feature_columns()
    return te.DNNLinearCombinedClassifier(
        linear_feature_columns=linear,
        linear_optimizer=lambda: te.train.AdagradOptimizer(W2_LR),
        dnn_feature_columns=dnn,
        dnn_hidden_units=[256, 128],
        dnn_optimizer=lambda: te.train.AdagradOptimizer(W2_LR),
        config=te.RunConfig(model_dir=model_dir, tf_random_seed=SEED, device="cpu"),  # TF's other defaults
    )


def to_features(
    dense: np.ndarray, cats: np.ndarray, label: np.ndarray
) -> tuple[dict[str, Any], torch.Tensor]:
    """One batch as the tf anchor feeds it: a dict of 13 float columns and 26 string columns."""
    features: dict[str, Any] = {f"I{i + 1}": torch.from_numpy(dense[:, i].copy()) for i in range(13)}
    features.update({f"C{j + 1}": cats[:, j] for j in range(26)})
    return features, torch.from_numpy(label).unsqueeze(1)


def input_fn(arrays: tuple[np.ndarray, ...], shuffle: bool, epochs: int | None = None) -> Any:
    return lambda: (to_features(*b) for b in batches(arrays, W2_B, shuffle, epochs))


class StepTimer(te.SessionRunHook):
    def __init__(self, warm: int) -> None:
        self.timer = Timer(warm)

    def after_run(self, run_context: Any, run_values: Any) -> None:
        self.timer.tick()


def estimator_train_ex_per_s(arrays: tuple[np.ndarray, ...], model_dir: str) -> float:
    hook = StepTimer(W2_WARM)
    make_estimator(model_dir).train(input_fn(arrays, True), steps=W2_WARM + W2_STEPS, hooks=[hook])
    return hook.timer.rate(W2_B)


def estimator_eval_predict(arrays: tuple[np.ndarray, ...], model_dir: str) -> dict[str, float]:
    estimator = make_estimator(model_dir)
    estimator.train(input_fn(arrays, True), steps=W2_PREP_STEPS)
    n = len(arrays[0])
    start = time.perf_counter()
    metrics = estimator.evaluate(input_fn(arrays, False, epochs=1))
    eval_rate = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in estimator.predict(input_fn(arrays, False, epochs=1), yield_single_examples=False):
        pass
    predict_rate = n / (time.perf_counter() - start)
    return {
        "eval_ex_per_s": eval_rate,
        "predict_ex_per_s": predict_rate,
        "auc": float(metrics["auc"]),
        "accuracy": float(metrics["accuracy"]),
    }


# ---------------------------------------------------------------- the hand-written side
class WideDeep(nn.Module):
    """The anchors' torch-plain model: an embedding per column and part, an MLP, logits summed."""

    def __init__(self) -> None:
        super().__init__()
        sizes = [int(v) for v in W2_BUCKETS]
        self.wide = nn.ModuleList(nn.Embedding(v, 1, sparse=True) for v in sizes)
        self.deep = nn.ModuleList(nn.Embedding(v, W2_EMB, sparse=True) for v in sizes)
        self.bias = nn.Parameter(torch.zeros(1))
        self.mlp = nn.Sequential(
            nn.Linear(13 + 26 * W2_EMB, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 1)
        )
        for table in self.wide:
            nn.init.zeros_(table.weight)
        for table in self.deep:
            nn.init.trunc_normal_(table.weight, std=W2_EMB**-0.5)
        for layer in self.mlp[::2]:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, dense: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        wide = torch.stack([e(ids[:, j]) for j, e in enumerate(self.wide)]).sum(0) + self.bias
        deep = torch.cat([dense] + [e(ids[:, j]) for j, e in enumerate(self.deep)], 1)
        return (wide + self.mlp(deep)).squeeze(1)


FNV_OFFSET, FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


def hash_ids(cats: np.ndarray) -> np.ndarray:
    """(B, 26) fixed-width bytes -> (B, 26) int64 bucket ids: FNV-1a over the bytes, vectorised."""
    raw = cats.view(np.uint8).reshape((*cats.shape, cats.dtype.itemsize))
    h = np.full(cats.shape, FNV_OFFSET, dtype=np.uint64)
    for k in range(raw.shape[-1]):
        h ^= raw[..., k]
        h *= FNV_PRIME
    return (h % W2_BUCKETS.astype(np.uint64)).astype(np.int64)


def plain_tensors(dense: np.ndarray, cats: np.ndarray, label: np.ndarray) -> tuple[Any, ...]:
    return torch.from_numpy(dense), torch.from_numpy(hash_ids(cats)), torch.from_numpy(label)


def plain_train(model: WideDeep, arrays: tuple[np.ndarray, ...], steps: int, timer: Timer | None) -> None:
    optimizer = torch.optim.Adagrad(model.parameters(), lr=W2_LR, initial_accumulator_value=0.1, eps=1e-7)
    model.train()
    for i, batch in enumerate(batches(arrays, W2_B, True)):
        if i == steps:
            break
        dense, ids, label = plain_tensors(*batch)
        loss = F.binary_cross_entropy_with_logits(model(dense, ids), label)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i % 100 == 0:
            loss.item()  # what a logging hook would read
        if timer is not None:
            timer.tick()


def plain_train_ex_per_s(arrays: tuple[np.ndarray, ...]) -> float:
    torch.manual_seed(SEED)
    timer = Timer(W2_WARM)
    plain_train(WideDeep(), arrays, W2_WARM + W2_STEPS, timer)
    return timer.rate(W2_B)


def plain_eval_predict(arrays: tuple[np.ndarray, ...]) -> dict[str, float]:
    torch.manual_seed(SEED)
    model = WideDeep()
    plain_train(model, arrays, W2_PREP_STEPS, None)
    model.eval()
    n = len(arrays[0])
    start = time.perf_counter()
    loss_sum, correct = torch.zeros(()), torch.zeros(())
    with torch.no_grad():
        for batch in batches(arrays, W2_B, False, epochs=1):
            dense, ids, label = plain_tensors(*batch)
            logits = model(dense, ids)
            loss_sum += F.binary_cross_entropy_with_logits(logits, label, reduction="sum")
            correct += ((logits > 0).float() == label).sum()
    eval_rate = n / (time.perf_counter() - start)
    start = time.perf_counter()
    with torch.no_grad():
        for batch in batches(arrays, W2_B, False, epochs=1):
            dense, ids, _ = plain_tensors(*batch)
            logits = model(dense, ids)
            probabilities = torch.sigmoid(logits)
            _ = {"logits": logits.numpy(), "probabilities": probabilities.numpy()}
    predict_rate = n / (time.perf_counter() - start)
    return {"eval_ex_per_s": eval_rate, "predict_ex_per_s": predict_rate, "accuracy": float(correct) / n}


# ---------------------------------------------------------------- profiling and the runner
def profile(verb: str, arrays: tuple[np.ndarray, ...]) -> None:
    """One verb of the Estimator under cProfile (Python time) and torch.profiler (operator time)."""
    model_dir = tempfile.mkdtemp(prefix="te_w2_profile_")
    try:
        estimator = make_estimator(model_dir)
        if verb != "train":
            estimator.train(input_fn(arrays, True), steps=20)

        def run() -> None:
            if verb == "train":
                estimator.train(input_fn(arrays, True), steps=60)
            elif verb == "evaluate":
                estimator.evaluate(input_fn(arrays, False, epochs=1), steps=40)
            else:
                for i, _ in enumerate(
                    estimator.predict(input_fn(arrays, False, epochs=1), yield_single_examples=False)
                ):
                    if i == 40:
                        break

        profiler = cProfile.Profile()
        profiler.runcall(run)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as torch_profile:
            run()
        print(torch_profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--profile", choices=["train", "evaluate", "predict"])
    args = parser.parse_args()
    torch.set_num_threads(2)  # as the anchors: one thread per core of the 2-core machine
    torch.sparse.check_sparse_tensor_invariants.disable()
    logging.basicConfig(level=logging.WARNING)
    arrays = widedeep_data()
    if args.profile:
        return profile(args.profile, arrays)
    plain_train_rates, plain_runs, te_train_rates, te_runs = [], [], [], []
    dirs: list[str] = []
    try:
        for _ in range(args.reps):  # alternate, so drift hits both sides alike
            plain_train_rates.append(plain_train_ex_per_s(arrays))
            plain_runs.append(plain_eval_predict(arrays))
            dirs.extend([tempfile.mkdtemp(prefix="te_w2_"), tempfile.mkdtemp(prefix="te_w2_")])
            te_train_rates.append(estimator_train_ex_per_s(arrays, dirs[-2]))
            te_runs.append(estimator_eval_predict(arrays, dirs[-1]))
    finally:
        for path in dirs:
            shutil.rmtree(path, ignore_errors=True)

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    rows = [
        ("train ex/s (steady)", statistics.median(te_train_rates), statistics.median(plain_train_rates),
         TF_TRAIN_EX_PER_S, 1.5),
        ("evaluate() ex/s (whole call)", median(te_runs, "eval_ex_per_s"),
         median(plain_runs, "eval_ex_per_s"), TF_EVAL_EX_PER_S, 2.0),
        ("predict() ex/s (whole call)", median(te_runs, "predict_ex_per_s"),
         median(plain_runs, "predict_ex_per_s"), TF_PREDICT_EX_PER_S, 2.0),
    ]  # fmt: skip
    print(f"W2 wide-deep-ctr, medians of {args.reps} (tf.estimator: medians of 9, results.md)")
    print("| measure | te.DNNLinearCombinedClassifier | hand-written torch | tf.estimator 2.15 | te / tf "
          "| target | te / hand-written |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, value, plain, tf, target in rows:
        print(
            f"| {name} | {value:,.0f} | {plain:,.0f} | {tf:,.0f} | {value / tf:.2f}x | >= {target:.1f}x "
            f"| {value / plain:.2f}x |"
        )
    print(
        f"sanity after one epoch: te AUC {median(te_runs, 'auc'):.3f}, "
        f"accuracy {median(te_runs, 'accuracy'):.3f}; "
        f"hand-written accuracy {median(plain_runs, 'accuracy'):.3f}; tf AUC {TF_AUC}, accuracy {TF_ACCURACY}"
    )


if __name__ == "__main__":
    main()
