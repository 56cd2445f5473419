"""WarmStartSettings / VocabInfo (SEMANTICS (m)): selection, renames, vocabulary remapping, when it applies.

The model: ``pred = x @ dense/kernel + dense/bias`` with a non-trainable ``dense/counter`` and an
Adagrad optimizer whose learning rate comes from params. With ``lr=0`` a training step changes no
variable (Adagrad only grows its accumulator), so a checkpoint written after training holds exactly
the values the variables started from: the warm-started ones, or the params' initial values.
"""

from __future__ import annotations

import pathlib

import pytest
import torch

import torch_estimator as te
from torch_estimator.checkpoint.warm_start import warm_start, warm_start_settings_from
from torch_estimator.summary import clear_writers


def model_fn(features, labels, mode, params):
    with te.variable_scope(params.get("scope", "dense")):
        kernel = te.get_variable("kernel", initializer=torch.tensor(params.get("kernel", [[0.0], [0.0]])))
        bias = te.get_variable("bias", initializer=torch.tensor(params.get("bias", [0.0])))
        te.get_variable("counter", initializer=torch.tensor([params.get("counter", 0.0)]), trainable=False)
    pred = features @ kernel + bias
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions={"y": pred})
    loss = ((pred - labels) ** 2).mean()
    train_op = te.train.AdagradOptimizer(params.get("lr", 0.0)).minimize(
        loss, global_step=te.train.get_global_step()
    )
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def input_fn():
    return torch.ones(1, 2), torch.ones(1, 1)


def config():
    return te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")


def estimator(model_dir, warm_start_from=None, **params):
    return te.Estimator(
        model_fn, model_dir=str(model_dir), config=config(), params=params, warm_start_from=warm_start_from
    )


def values(est, *names):
    return {name: est.get_variable_value(name).tolist() for name in names}


@pytest.fixture(autouse=True)
def _close_event_writers():
    yield
    clear_writers()


@pytest.fixture
def old_dir(tmp_path):
    """A model_dir whose latest checkpoint (step 3) holds kernel [[1], [2]], bias [3], counter [4]."""
    old = estimator(tmp_path / "old", kernel=[[1.0], [2.0]], bias=[3.0], counter=4.0)
    old.train(input_fn, steps=3)
    return tmp_path / "old"


# -- settings ------------------------------------------------------------------------------------


def test_settings_defaults_and_validation():
    settings = te.WarmStartSettings("/ckpt", var_name_to_vocab_info=None, var_name_to_prev_var_name=None)
    assert (
        settings.vars_to_warm_start,
        settings.var_name_to_vocab_info,
        settings.var_name_to_prev_var_name,
    ) == (
        ".*",
        {},
        {},
    )
    with pytest.raises(ValueError, match="`ckpt_to_initialize_from` MUST be set in WarmStartSettings"):
        te.WarmStartSettings("")
    with pytest.raises(ValueError, match="must be all `Variable` or all `str`"):
        te.WarmStartSettings("/ckpt", vars_to_warm_start=["a", torch.zeros(1)])
    with pytest.raises(ValueError, match="must be a `list` or `str`"):
        te.WarmStartSettings("/ckpt", vars_to_warm_start=3)
    with pytest.raises(TypeError, match="must be a VocabInfo"):
        te.WarmStartSettings("/ckpt", var_name_to_vocab_info={"emb": "vocab.txt"})
    assert te.WarmStartSettings(pathlib.Path("/ckpt")).ckpt_to_initialize_from == "/ckpt"


def test_vocab_info_validation():
    assert te.VocabInfo("new", 3, 0, "old").old_vocab_size == -1
    with pytest.raises(ValueError, match="only supported values for the axis argument are 0 and 1"):
        te.VocabInfo("new", 3, 0, "old", axis=2)
    with pytest.raises(ValueError, match="Must provide all of"):
        te.VocabInfo("new", 0, 0, "old")


def test_warm_start_from_forms(tmp_path):
    assert warm_start_settings_from(None) is None
    assert warm_start_settings_from("/old").ckpt_to_initialize_from == "/old"
    assert warm_start_settings_from(b"/old").ckpt_to_initialize_from == "/old"
    given = te.WarmStartSettings("/old", vars_to_warm_start="dense/kernel")
    assert warm_start_settings_from(given) is given
    export = tmp_path / "export" / "1700000000"
    (export / "variables").mkdir(parents=True)
    (export / "variables" / "variables.safetensors").write_bytes(b"")
    assert warm_start_settings_from(str(export)).ckpt_to_initialize_from == str(
        export / "variables" / "variables"
    )
    with pytest.raises(ValueError, match="warm_start_from must be a string or a WarmStartSettings"):
        te.Estimator(model_fn, model_dir=str(tmp_path / "m"), warm_start_from=3)


# -- applied by the Estimator --------------------------------------------------------------------


def test_train_warm_starts_trainable_variables_but_not_global_step(old_dir, tmp_path):
    """Default '.*': kernel and bias come from the old model (lr 0 keeps them); counter is not
    trainable and keeps its initial 0; global_step is not warm started: 2 steps from 0 end at 2."""
    new = estimator(tmp_path / "new", warm_start_from=str(old_dir)).train(input_fn, steps=2)
    assert values(new, "dense/kernel", "dense/bias", "dense/counter") == {
        "dense/kernel": [[1.0], [2.0]],
        "dense/bias": [3.0],
        "dense/counter": [0.0],
    }
    assert new.get_variable_value("global_step") == 2


def test_warm_start_from_a_trained_model_copies_its_trained_values(tmp_path):
    """Old model trained with lr 0.1 (values no longer the initial ones); the new one (lr 0) starts
    from exactly the old checkpoint's values."""
    old = estimator(tmp_path / "old", lr=0.1).train(input_fn, steps=4)
    new = estimator(tmp_path / "new", warm_start_from=str(tmp_path / "old")).train(input_fn, steps=1)
    for name in ("dense/kernel", "dense/bias"):
        assert new.get_variable_value(name).tolist() == old.get_variable_value(name).tolist()
    assert old.get_variable_value("dense/kernel").tolist() != [[0.0], [0.0]]


def test_resume_never_warm_starts_again(old_dir, tmp_path):
    """After the first train the new model_dir has a checkpoint; a second warm start source with
    other values (kernel [[7], [8]]) is ignored: the checkpoint always wins."""
    new_dir = tmp_path / "new"
    estimator(new_dir, warm_start_from=str(old_dir)).train(input_fn, steps=1)
    other = tmp_path / "other"
    estimator(other, kernel=[[7.0], [8.0]]).train(input_fn, steps=1)
    resumed = estimator(new_dir, warm_start_from=str(other)).train(input_fn, steps=1)
    assert values(resumed, "dense/kernel") == {"dense/kernel": [[1.0], [2.0]]}
    assert resumed.get_variable_value("global_step") == 2


def test_checkpoint_path_prefix_and_renames(old_dir, tmp_path):
    """The new model's variables live in scope 'linear'; renames map them to the old 'dense' names,
    from a checkpoint prefix (model.ckpt-3) rather than the model_dir. Only the kernel is selected."""
    settings = te.WarmStartSettings(
        str(old_dir / "model.ckpt-3"),
        vars_to_warm_start="linear/kernel",
        var_name_to_prev_var_name={"linear/kernel": "dense/kernel"},
    )
    new = estimator(tmp_path / "new", warm_start_from=settings, scope="linear", bias=[5.0])
    new.train(input_fn, steps=1)
    assert values(new, "linear/kernel", "linear/bias") == {
        "linear/kernel": [[1.0], [2.0]],
        "linear/bias": [5.0],
    }


def test_unused_prev_names_and_vocab_infos_are_rejected(old_dir, tmp_path):
    settings = te.WarmStartSettings(str(old_dir), var_name_to_prev_var_name={"dense/kernal": "dense/kernel"})
    with pytest.raises(ValueError, match=r"var_name_to_prev_var_name that were not used: \['dense/kernal'\]"):
        estimator(tmp_path / "a", warm_start_from=settings).train(input_fn, steps=1)
    info = te.VocabInfo("new.txt", 2, 0, "old.txt")
    settings = te.WarmStartSettings(str(old_dir), var_name_to_vocab_info={"dense/counter": info})
    # counter is not trainable, so the regex does not select it: its VocabInfo is unused.
    with pytest.raises(ValueError, match=r"var_name_to_vocab_info that were not used: \['dense/counter'\]"):
        estimator(tmp_path / "b", warm_start_from=settings).train(input_fn, steps=1)


def test_shape_mismatch_names_the_variable_and_both_shapes(tmp_path):
    old = estimator(tmp_path / "old", kernel=[[1.0], [2.0], [3.0]])
    old.train(lambda: (torch.ones(1, 3), torch.ones(1, 1)), steps=1)
    new = estimator(tmp_path / "new", warm_start_from=str(tmp_path / "old"))
    with pytest.raises(ValueError, match=r"Shape of variable dense/kernel \(\(2, 1\)\).*\(\(3, 1\)\)"):
        new.train(input_fn, steps=1)


def test_missing_variable_in_the_checkpoint(old_dir, tmp_path):
    new = estimator(tmp_path / "new", warm_start_from=str(old_dir), scope="other")
    with pytest.raises(ValueError, match=r"Tensor other/kernel is not found in .*model\.ckpt-3 checkpoint"):
        new.train(input_fn, steps=1)


def test_evaluate_and_predict_use_the_warm_start_without_a_checkpoint(old_dir, tmp_path):
    """x = [1, 1]: pred = 1 + 2 + 3 = 6 with the old values; loss (6 - 1)^2 = 25."""
    new = estimator(tmp_path / "new", warm_start_from=str(old_dir))
    assert new.evaluate(input_fn, steps=1)["loss"] == pytest.approx(25.0)
    prediction = next(new.predict(lambda: iter([torch.ones(1, 2)])))
    assert prediction["y"].tolist() == [6.0]


def test_missing_source_directory_is_a_clear_error(tmp_path):
    new = estimator(tmp_path / "new", warm_start_from=str(tmp_path))
    with pytest.raises(ValueError, match="Couldn't find 'checkpoint' file or checkpoints"):
        new.train(input_fn, steps=1)


# -- selection rules on a Graph ----------------------------------------------------------------


def build_train_graph(**params):
    """A Graph after a TRAIN build pass: variables and the Adagrad optimizer state exist."""
    graph = te.Graph(model_fn, params)
    te.graph.create_global_step(graph)
    with graph.build(), torch.no_grad():
        graph(torch.ones(1, 2), torch.ones(1, 1), te.ModeKeys.TRAIN)
    return graph


def write_old_checkpoint(tmp_path):
    """kernel [[1], [2]], bias [3], counter [4] and the kernel's Adagrad accumulator [[5], [6]]."""
    prefix = str(tmp_path / "model.ckpt-9")
    te.checkpoint.write_checkpoint(
        prefix,
        {
            "dense/kernel": torch.tensor([[1.0], [2.0]]),
            "dense/bias": torch.tensor([3.0]),
            "dense/counter": torch.tensor([4.0]),
            "dense/kernel/Adagrad": torch.tensor([[5.0], [6.0]]),
            "dense/bias/Adagrad": torch.tensor([7.0]),
            "global_step": torch.tensor(9),
        },
    )
    return prefix


def accumulator(graph):
    return graph.checkpoint_tensors().get("dense/kernel/Adagrad")


def test_regex_selects_trainable_variables_only(tmp_path):
    graph = build_train_graph()
    started = warm_start(graph, te.WarmStartSettings(write_old_checkpoint(tmp_path)))
    assert sorted(started) == ["dense/bias", "dense/kernel"]
    assert graph.find_variable("dense/counter").tolist() == [0.0]
    assert accumulator(graph) is None  # slots are not trainable: the regex leaves them alone
    assert int(graph.find_variable("global_step")) == 0


def test_list_of_regexes_selects_every_variable_including_slots(tmp_path):
    """['dense/'] matches kernel, bias, counter and the kernel's accumulator; global_step never."""
    graph = build_train_graph()
    settings = te.WarmStartSettings(write_old_checkpoint(tmp_path), vars_to_warm_start=["dense/", "global"])
    started = warm_start(graph, settings)
    assert sorted(started) == [
        "dense/bias",
        "dense/bias/Adagrad",
        "dense/counter",
        "dense/kernel",
        "dense/kernel/Adagrad",
    ]
    assert graph.find_variable("dense/counter").tolist() == [4.0]
    assert accumulator(graph).tolist() == [[5.0], [6.0]]
    assert int(graph.find_variable("global_step")) == 0


def test_list_of_variables_and_none(tmp_path):
    graph = build_train_graph()
    prefix = write_old_checkpoint(tmp_path)
    bias = graph.find_variable("dense/bias")
    assert warm_start(graph, te.WarmStartSettings(prefix, vars_to_warm_start=[bias])) == ["dense/bias"]
    assert graph.find_variable("dense/kernel").tolist() == [[0.0], [0.0]]
    # None: only variables with a VocabInfo (none here), but prev names of trainable ones count as used.
    settings = te.WarmStartSettings(
        prefix, vars_to_warm_start=None, var_name_to_prev_var_name={"dense/kernel": "dense/kernel"}
    )
    assert warm_start(graph, settings) == []


# -- vocabulary remapping ----------------------------------------------------------------------


def embedding_model_fn(features, mode, params):
    table = te.get_variable("emb", [params["rows"], 2], initializer=te.initializers.ones())
    return te.EstimatorSpec(mode, predictions=table[features])


def test_vocab_remapping_rows(tmp_path):
    """Old vocab a b c (rows [1 10], [2 20], [3 30]); new vocab c x a + 1 OOV bucket, backup 9:
    row 0 'c' <- old row 2, row 1 'x' (unknown) <- 9, row 2 'a' <- old row 0, row 3 (OOV) <- 9."""
    (tmp_path / "old.txt").write_text("a\nb\nc\n")
    (tmp_path / "new.txt").write_text("c\nx\na\nextra\n")
    prefix = str(tmp_path / "model.ckpt-1")
    te.checkpoint.write_checkpoint(prefix, {"table": torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])})
    graph = te.Graph(embedding_model_fn, {"rows": 4})
    graph(torch.tensor([0]), None, te.ModeKeys.PREDICT)
    info = te.VocabInfo(
        str(tmp_path / "new.txt"),
        new_vocab_size=3,
        num_oov_buckets=1,
        old_vocab=str(tmp_path / "old.txt"),
        backup_initializer=te.initializers.constant(9.0),
    )
    settings = te.WarmStartSettings(
        prefix,
        vars_to_warm_start=None,
        var_name_to_vocab_info={"emb": info},
        var_name_to_prev_var_name={"emb": "table"},
    )
    assert warm_start(graph, settings) == ["emb"]
    assert graph.find_variable("emb").tolist() == [[3.0, 30.0], [9.0, 9.0], [1.0, 10.0], [9.0, 9.0]]


def test_vocab_remapping_columns_with_old_vocab_size(tmp_path):
    """axis=1, old_vocab_size=2 (only 'a', 'b' count): new 'b' 'c' -> column 0 from old column 1,
    column 1 ('c' is beyond the old size) zeros."""
    (tmp_path / "old.txt").write_text("a\nb\nc\n")
    (tmp_path / "new.txt").write_text("b\nc\n")
    prefix = str(tmp_path / "model.ckpt-1")
    te.checkpoint.write_checkpoint(prefix, {"emb": torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])})

    def columns_model_fn(features, mode):
        table = te.get_variable("emb", [2, 2], initializer=te.initializers.ones())
        return te.EstimatorSpec(mode, predictions=features @ table)

    graph = te.Graph(columns_model_fn)
    graph(torch.ones(1, 2), None, te.ModeKeys.PREDICT)
    info = te.VocabInfo(str(tmp_path / "new.txt"), 2, 0, str(tmp_path / "old.txt"), old_vocab_size=2, axis=1)
    warm_start(graph, te.WarmStartSettings(prefix, var_name_to_vocab_info={"emb": info}))
    assert graph.find_variable("emb").tolist() == [[2.0, 0.0], [5.0, 0.0]]


def test_vocab_size_larger_than_the_file_is_rejected(tmp_path):
    (tmp_path / "old.txt").write_text("a\n")
    (tmp_path / "new.txt").write_text("a\n")
    prefix = str(tmp_path / "model.ckpt-1")
    te.checkpoint.write_checkpoint(prefix, {"emb": torch.ones(1, 2)})
    graph = te.Graph(embedding_model_fn, {"rows": 3})
    graph(torch.tensor([0]), None, te.ModeKeys.PREDICT)
    info = te.VocabInfo(str(tmp_path / "new.txt"), 3, 0, str(tmp_path / "old.txt"))
    with pytest.raises(ValueError, match="has 1 entries but its vocab size is 3"):
        warm_start(graph, te.WarmStartSettings(prefix, var_name_to_vocab_info={"emb": info}))


# -- from an export ------------------------------------------------------------------------------


def test_warm_start_from_an_export_directory(old_dir, tmp_path):
    """te.export writes the variables with the export; a new model warm starts from that directory."""
    old = estimator(old_dir)
    receiver_fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.ones(1, 2)})

    def serving_model_fn(features, labels, mode, params):
        if isinstance(features, dict):
            features = features["x"]
        return model_fn(features, labels, mode, params)

    exporter = te.Estimator(serving_model_fn, model_dir=str(old_dir), config=config())
    export_dir = exporter.export_saved_model(str(tmp_path / "export"), receiver_fn)
    assert old.latest_checkpoint() is not None
    new = estimator(tmp_path / "new", warm_start_from=export_dir).train(input_fn, steps=1)
    assert values(new, "dense/kernel", "dense/bias") == {"dense/kernel": [[1.0], [2.0]], "dense/bias": [3.0]}


def serving_model_fn(features, labels, mode, params):
    if isinstance(features, dict):
        features = features["x"]
    return model_fn(features, labels, mode, params)


def export_without_checkpoint(tmp_path, warm_start_from):
    """Exports a fresh Estimator (no checkpoint in its model_dir); returns the loaded signatures."""
    new = te.Estimator(
        serving_model_fn, model_dir=str(tmp_path / "new"), config=config(), warm_start_from=warm_start_from
    )
    receiver_fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.ones(1, 2)})
    export_dir = new.export_saved_model(str(tmp_path / "export_new"), receiver_fn)
    assert new.latest_checkpoint() is None
    return te.saved_model.load(export_dir)


@pytest.mark.parametrize("source", ["model_dir", "prefix", "settings"])
def test_export_without_a_checkpoint_uses_the_warm_start_checkpoint(old_dir, tmp_path, source):
    """TF restores the warm-start checkpoint directly: x = [1, 1] gives 1 + 2 + 3 = 6, and the export
    records the old global step 3 (a warm start proper would not carry it)."""
    warm_start_from = {
        "model_dir": str(old_dir),
        "prefix": str(old_dir / "model.ckpt-3"),
        "settings": te.WarmStartSettings(str(old_dir)),
    }[source]
    loaded = export_without_checkpoint(tmp_path, warm_start_from)
    assert loaded.signatures["serving_default"](x=torch.ones(2, 2))["y"].tolist() == [[6.0], [6.0]]
    assert loaded.global_step == 3


def test_export_without_a_checkpoint_warm_starts_from_an_export(old_dir, tmp_path):
    """An export's variables are no checkpoint: fresh variables get the warm start (trainable ones)."""
    old = te.Estimator(serving_model_fn, model_dir=str(old_dir), config=config())
    receiver_fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.ones(1, 2)})
    export_dir = old.export_saved_model(str(tmp_path / "export_old"), receiver_fn)
    loaded = export_without_checkpoint(tmp_path, export_dir)
    assert loaded.signatures["serving_default"](x=torch.ones(2, 2))["y"].tolist() == [[6.0], [6.0]]


def test_export_without_checkpoint_or_warm_start_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="Couldn't find trained model at"):
        export_without_checkpoint(tmp_path, None)
