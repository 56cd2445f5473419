"""LatestExporter, BestExporter, FinalExporter and export garbage collection (SEMANTICS (k) Exporters)."""

from __future__ import annotations

import glob
import os

import pytest
import torch

import torch_estimator as te
from torch_estimator.export.exporters import garbage_collect_exports, loss_smaller
from torch_estimator.saved_model.format import SIGNATURE_FILENAME
from torch_estimator.saved_model.loader import list_versions
from torch_estimator.summary.reader import read_scalar_summaries
from torch_estimator.summary.writer import FileWriter


def receiver_fn():
    return None


def write_eval_events(eval_dir: str, results: dict[int, dict[str, float]]) -> None:
    """An eval event file as Estimator.evaluate writes it: one scalar event per evaluated step."""
    writer = FileWriter(eval_dir)
    for step, scalars in results.items():
        writer.write_scalars(step, scalars)
    writer.close()


def make_export(path: str) -> None:
    """A finished export as far as version listing goes: a directory with the signature file."""
    os.makedirs(path)
    with open(os.path.join(path, SIGNATURE_FILENAME), "w") as f:
        f.write("{}")


# -- garbage collection -------------------------------------------------------------------------


def test_gc_keeps_the_newest_exports_and_ignores_other_entries(tmp_path):
    base = tmp_path / "export" / "latest"
    versions = [1700000000 + i for i in (3, 1, 4, 0, 2)]
    for version in versions:
        (base / str(version)).mkdir(parents=True)
        (base / str(version) / SIGNATURE_FILENAME).write_text("{}")
    (base / "temp-1700000009-abcd").mkdir()
    (base / "12345").mkdir()  # not an export: no signature file
    (base / "notes.txt").write_text("keep me")
    removed = garbage_collect_exports(str(base), 2)
    assert sorted(os.path.basename(path) for path in removed) == ["1700000000", "1700000001", "1700000002"]
    assert sorted(os.listdir(base)) == [
        "12345",
        "1700000003",
        "1700000004",
        "notes.txt",
        "temp-1700000009-abcd",
    ]


def test_gc_none_keeps_everything_and_a_missing_dir_is_fine(tmp_path):
    for version in range(1700000000, 1700000007):
        (tmp_path / str(version)).mkdir()
        (tmp_path / str(version) / SIGNATURE_FILENAME).write_text("{}")
    assert garbage_collect_exports(str(tmp_path), None) == []
    assert len(list_versions(str(tmp_path))) == 7
    assert garbage_collect_exports(str(tmp_path / "missing"), 3) == []


@pytest.mark.parametrize(
    "make",
    [
        lambda keep: te.LatestExporter("latest", receiver_fn, exports_to_keep=keep),
        lambda keep: te.BestExporter(serving_input_receiver_fn=receiver_fn, exports_to_keep=keep),
    ],
)
@pytest.mark.parametrize("keep", [0, -1])
def test_exports_to_keep_must_be_positive(make, keep):
    with pytest.raises(ValueError, match="`exports_to_keep`, if provided, must be a positive number"):
        make(keep)


# -- LatestExporter / FinalExporter --------------------------------------------------------------


def test_latest_exporter_exports_every_time_and_keeps_the_newest(tfakes, tmp_path):
    estimator = tfakes.FakeExportingEstimator(str(tmp_path))
    export_path = str(tmp_path / "export" / "latest")
    exporter = te.LatestExporter("latest", receiver_fn, exports_to_keep=2)
    paths = [
        exporter.export(estimator, export_path, f"ckpt-{step}", {"global_step": step}, False)
        for step in (1, 2, 3)
    ]
    assert [os.path.basename(path) for path in paths] == ["1700000000", "1700000001", "1700000002"]
    assert list_versions(export_path) == [1700000001, 1700000002]
    assert estimator.exported_checkpoints == ["ckpt-1", "ckpt-2", "ckpt-3"]


def test_final_exporter_exports_only_the_final_evaluation(tfakes, tmp_path):
    estimator = tfakes.FakeExportingEstimator(str(tmp_path))
    export_path = str(tmp_path / "export" / "final")
    exporter = te.FinalExporter("final", receiver_fn)
    assert exporter.export(estimator, export_path, "ckpt-1", {"global_step": 1}, False) is None
    assert exporter.export(estimator, export_path, "ckpt-2", {"global_step": 2}, True) == os.path.join(
        export_path, "1700000000"
    )
    assert estimator.exported_checkpoints == ["ckpt-2"]


def test_latest_exporter_writes_a_loadable_export(tfakes, make_estimator):
    """A real export of the trained model: y = x @ w, w = [[a], [a]], a = 0.5 (1 - 0.6^5) after 5 steps."""
    estimator = make_estimator()
    estimator.train(tfakes.input_fn, max_steps=5)
    export_path = os.path.join(estimator.model_dir, "export", "latest")
    exporter = te.LatestExporter("latest", tfakes.serving_input_receiver_fn)
    path = exporter.export(estimator, export_path, estimator.latest_checkpoint(), {"global_step": 5}, False)
    assert os.path.dirname(path) == export_path
    served = te.saved_model.load(path)
    outputs = served.signatures["serving_default"](x=torch.ones(1, 2))
    a = 0.5 * (1 - 0.6**5)
    assert outputs["y"].item() == pytest.approx(2 * a, rel=1e-5)


# -- BestExporter ----------------------------------------------------------------------------------


def test_loss_smaller():
    assert loss_smaller({"loss": 2.0}, {"loss": 1.0}) is True
    assert loss_smaller({"loss": 1.0}, {"loss": 1.0}) is False
    with pytest.raises(ValueError, match="best_eval_result cannot be empty or no loss is found in it"):
        loss_smaller({}, {"loss": 1.0})
    with pytest.raises(ValueError, match="current_eval_result cannot be empty or no loss is found in it"):
        loss_smaller({"loss": 1.0}, {"accuracy": 1.0})


@pytest.mark.parametrize(
    ("compare_fn", "phrase"),
    [
        (None, "`compare_fn` must not be None"),
        (lambda current_eval_result: True, "must include best_eval_result argument"),
        (lambda best_eval_result: True, "must include current_eval_result argument"),
        (
            lambda best_eval_result, current_eval_result, extra: True,
            r"has following not expected args: \['extra'\]",
        ),
    ],
)
def test_best_exporter_checks_compare_fn(compare_fn, phrase):
    with pytest.raises(ValueError, match=phrase):
        te.BestExporter(serving_input_receiver_fn=receiver_fn, compare_fn=compare_fn)


def test_best_exporter_exports_only_improvements(tfakes, tmp_path):
    """Losses 0.5 (first: exported), 0.7 (worse), 0.3 (better), 0.3 (equal: not strictly smaller)."""
    estimator = tfakes.FakeExportingEstimator(str(tmp_path))
    export_path = str(tmp_path / "export" / "best")
    exporter = te.BestExporter("best", receiver_fn)
    exported = [
        exporter.export(estimator, export_path, f"ckpt-{step}", {"loss": loss, "global_step": step}, False)
        is not None
        for step, loss in ((10, 0.5), (20, 0.7), (30, 0.3), (40, 0.3))
    ]
    assert exported == [True, False, True, False]
    assert estimator.exported_checkpoints == ["ckpt-10", "ckpt-30"]
    assert exporter.best_eval_result == {"loss": 0.3, "global_step": 30}


def test_best_exporter_first_export_ignores_its_own_evaluation_in_the_event_files(tfakes, tmp_path):
    """Estimator.evaluate writes the result before the exporters run: that event is not a rival."""
    model_dir = str(tmp_path)
    write_eval_events(os.path.join(model_dir, "eval"), {10: {"loss": 0.5}})
    estimator = tfakes.FakeExportingEstimator(model_dir)
    exporter = te.BestExporter("best", receiver_fn)
    path = exporter.export(
        estimator, str(tmp_path / "export" / "best"), "ckpt-10", {"loss": 0.5, "global_step": 10}, False
    )
    assert path is not None


def test_best_exporter_after_a_restart_does_not_export_a_worse_model(tfakes, tmp_path):
    """Before the restart steps 10 (loss 0.5) and 20 (loss 0.2) were evaluated and 20 exported.

    A new exporter (a restarted job) seeds its best from the event files: loss 0.2. Step 30 with
    loss 0.4 is worse (not exported); step 40 with 0.1 is better (exported).
    """
    model_dir = str(tmp_path)
    export_path = str(tmp_path / "export" / "best")
    make_export(os.path.join(export_path, "1600000000"))
    write_eval_events(
        os.path.join(model_dir, "eval"), {10: {"loss": 0.5}, 20: {"loss": 0.2}, 30: {"loss": 0.4}}
    )
    estimator = tfakes.FakeExportingEstimator(model_dir)
    exporter = te.BestExporter("best", receiver_fn)
    assert exporter.export(estimator, export_path, "ckpt-30", {"loss": 0.4, "global_step": 30}, False) is None
    assert exporter.best_eval_result == {"loss": pytest.approx(0.2)}
    assert (
        exporter.export(estimator, export_path, "ckpt-40", {"loss": 0.1, "global_step": 40}, False)
        is not None
    )
    assert estimator.exported_checkpoints == ["ckpt-40"]


def test_best_exporter_with_a_custom_compare_fn_and_pattern(tfakes, tmp_path):
    """Higher accuracy wins; results are read from eval_holdout (the EvalSpec name)."""
    model_dir = str(tmp_path)
    export_path = str(tmp_path / "export" / "best")
    make_export(os.path.join(export_path, "1600000000"))
    write_eval_events(os.path.join(model_dir, "eval_holdout"), {10: {"accuracy": 0.9}})

    def higher_accuracy(best_eval_result, current_eval_result):
        return current_eval_result["accuracy"] > best_eval_result["accuracy"]

    exporter = te.BestExporter(
        "best", receiver_fn, event_file_pattern="eval_holdout/*.tfevents.*", compare_fn=higher_accuracy
    )
    estimator = tfakes.FakeExportingEstimator(model_dir)
    assert exporter.export(estimator, export_path, "c", {"accuracy": 0.8, "global_step": 20}, False) is None
    assert (
        exporter.export(estimator, export_path, "c", {"accuracy": 0.95, "global_step": 30}, False) is not None
    )


def test_best_exporter_without_exports_exports_the_first_evaluation(tfakes, tmp_path):
    """An exporter added to a job whose event files already hold a better loss still exports once."""
    model_dir = str(tmp_path)
    write_eval_events(os.path.join(model_dir, "eval"), {10: {"loss": 0.1}})
    estimator = tfakes.FakeExportingEstimator(model_dir)
    exporter = te.BestExporter("best", receiver_fn)
    export_path = str(tmp_path / "export" / "best")
    assert exporter.export(estimator, export_path, "c", {"loss": 0.3, "global_step": 20}, False) is not None
    assert exporter.export(estimator, export_path, "c", {"loss": 0.2, "global_step": 30}, False) is not None
    assert exporter.export(estimator, export_path, "c", {"loss": 0.25, "global_step": 40}, False) is None


def test_best_exporter_garbage_collects(tfakes, tmp_path):
    estimator = tfakes.FakeExportingEstimator(str(tmp_path))
    export_path = str(tmp_path / "export" / "best")
    exporter = te.BestExporter("best", receiver_fn, event_file_pattern=None, exports_to_keep=2)
    for step, loss in ((1, 0.9), (2, 0.8), (3, 0.7)):
        exporter.export(estimator, export_path, "c", {"loss": loss, "global_step": step}, False)
    assert list_versions(export_path) == [1700000001, 1700000002]


def test_read_scalar_summaries_merges_steps_across_files(tmp_path):
    eval_dir = str(tmp_path / "eval")
    write_eval_events(eval_dir, {1: {"loss": 0.5}, 2: {"loss": 0.4}})
    write_eval_events(eval_dir, {2: {"accuracy": 0.9}})
    results = read_scalar_summaries(sorted(glob.glob(os.path.join(eval_dir, "*.tfevents.*"))))
    assert list(results) == [1, 2]
    assert results[2] == {"loss": pytest.approx(0.4), "accuracy": pytest.approx(0.9)}
