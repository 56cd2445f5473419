"""Numeric versions under a base path: the newest served, new ones picked up by polling, old ones unloaded;
version policies, labels, several models from a config file, failed loads."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from torch_estimator.serving import ModelConfig, ModelManager, VersionPolicy, read_model_config_file
from torch_estimator.serving.errors import NotFoundError

REGRESS = {"signature_name": "regress", "instances": [[1, 2, 3, 4]]}  # k * 10 with k = the version


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)


def states(serving, url):
    status, body = serving.request("GET", url)
    assert status == 200, body
    return {entry["version"]: entry["state"] for entry in body["model_version_status"]}


def test_newest_version_served_then_hot_swapped_without_restart(
    start_server, model_base, serving, export_versions
):
    base = model_base(1)
    server = start_server([ModelConfig("m", base)], poll_wait_seconds=0.05)
    url = f"{server.url}/v1/models/m"
    assert serving.request("POST", url + ":predict", REGRESS) == (200, {"predictions": [10.0]})

    serving.add_version(base, export_versions[2], 2)
    wait_for(lambda: states(serving, url) == {"2": "AVAILABLE", "1": "END"})
    # Version 2 answers k = 2; version 1 is unloaded and no longer addressable.
    assert serving.request("POST", url + ":predict", REGRESS) == (200, {"predictions": [20.0]})
    assert serving.request("GET", url + "/metadata")[1]["model_spec"]["version"] == "2"
    status, body = serving.request("POST", url + "/versions/1:predict", REGRESS)
    assert status == 404 and "Specific(m, 1)" in body["error"]


def test_removed_version_dir_is_unloaded_and_the_previous_one_served_again(start_server, model_base, serving):
    base = model_base(1, 2)
    server = start_server([ModelConfig("m", base)], poll_wait_seconds=0.05)
    url = f"{server.url}/v1/models/m"
    assert states(serving, url) == {"2": "AVAILABLE"}
    shutil.rmtree(os.path.join(base, "2"))
    wait_for(lambda: states(serving, url) == {"2": "END", "1": "AVAILABLE"})
    assert serving.request("POST", url + ":predict", REGRESS) == (200, {"predictions": [10.0]})


def test_specific_and_all_policies_and_labels(start_server, model_base, serving):
    base = model_base(1, 2)
    models = [
        ModelConfig("pinned", base, VersionPolicy("specific", versions=(1,)), version_labels={"stable": 1}),
        ModelConfig("every", base, VersionPolicy("all"), version_labels={"stable": 1, "canary": 2}),
    ]
    server = start_server(models, poll_wait_seconds=0)
    pinned, every = f"{server.url}/v1/models/pinned", f"{server.url}/v1/models/every"
    assert states(serving, pinned) == {"1": "AVAILABLE"}
    assert states(serving, every) == {"2": "AVAILABLE", "1": "AVAILABLE"}
    # Latest = the highest available; versions and labels address the others.
    assert serving.request("POST", every + ":predict", REGRESS)[1] == {"predictions": [20.0]}
    assert serving.request("POST", every + "/versions/1:predict", REGRESS)[1] == {"predictions": [10.0]}
    assert serving.request("POST", every + "/labels/stable:predict", REGRESS)[1] == {"predictions": [10.0]}
    assert serving.request("POST", every + "/labels/canary:predict", REGRESS)[1] == {"predictions": [20.0]}
    assert states(serving, every + "/labels/canary") == {"2": "AVAILABLE"}
    assert serving.request("GET", every + "/labels/canary/metadata")[1]["model_spec"]["version"] == "2"
    assert serving.request("POST", pinned + ":predict", REGRESS)[1] == {"predictions": [10.0]}
    assert serving.request("POST", pinned + "/versions/2:predict", REGRESS)[0] == 404
    assert serving.request("GET", pinned + "/labels/canary")[0] == 404


def test_model_config_file_serves_several_models(tmp_path, model_base, start_server, serving):
    first, second = model_base(1, name="first"), model_base(1, 2, name="second")
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list {\n"
        f"  config {{ name: 'first' base_path: '{first}' model_platform: 'tensorflow' }}\n"
        f"  config {{ name: 'second' base_path: '{second}'\n"
        "    model_version_policy { latest { num_versions: 2 } }\n"
        "    version_labels { key: 'old' value: 1 } }\n"
        "}\n"
    )
    models = read_model_config_file(config)
    assert [model.name for model in models] == ["first", "second"]
    assert models[1].version_policy == VersionPolicy("latest", num_versions=2)
    server = start_server(models, poll_wait_seconds=0)
    assert states(serving, f"{server.url}/v1/models/first") == {"1": "AVAILABLE"}
    assert states(serving, f"{server.url}/v1/models/second") == {"2": "AVAILABLE", "1": "AVAILABLE"}
    old = serving.request("POST", f"{server.url}/v1/models/second/labels/old:predict", REGRESS)
    assert old == (200, {"predictions": [10.0]})


def test_model_config_file_errors(tmp_path):
    duplicate = tmp_path / "duplicate.config"
    duplicate.write_text(
        "model_config_list { config { name: 'a' base_path: '/a' } config { name: 'a' base_path: '/b' } }"
    )
    with pytest.raises(ValueError, match="Illegal to list model a multiple times"):
        read_model_config_file(duplicate)
    typo = tmp_path / "typo.config"
    typo.write_text("model_config_list { config { name: 'a' base_pth: '/a' } }")
    with pytest.raises(ValueError, match='no field named "base_pth"'):
        read_model_config_file(typo)
    with pytest.raises(ValueError, match="Could not read the model config file"):
        read_model_config_file(tmp_path / "missing.config")


def test_a_version_that_fails_to_load_is_reported_and_the_previous_one_keeps_serving(model_base):
    base = model_base(1)
    manager = ModelManager([ModelConfig("m", base)], max_num_load_retries=1)
    manager.start(poll_wait_seconds=0)
    try:
        os.makedirs(os.path.join(base, "2"))  # an export whose signature file is broken
        with open(os.path.join(base, "2", "saved_model.json"), "w") as file:
            file.write("{}")
        manager.poll()
        two, one = manager.status("m")
        assert (two.version, two.state, two.error_code) == (2, "END", "UNKNOWN")
        assert two.error_message
        assert (one.version, one.state) == (1, "AVAILABLE")
        assert manager.get("m").version == 1
        manager.poll()  # the one retry
        manager.poll()  # no more
        assert manager.status("m", 2)[0].state == "END"
    finally:
        manager.stop()


def test_empty_or_missing_base_path_serves_nothing_but_answers(tmp_path, start_server, serving):
    server = start_server([ModelConfig("m", str(tmp_path / "missing"))], poll_wait_seconds=0)
    status, body = serving.request("GET", f"{server.url}/v1/models/m")
    assert status == 404 and body["error"] == "Could not find any versions of model m"
    status, body = serving.request("POST", f"{server.url}/v1/models/m:predict", REGRESS)
    assert status == 404 and body["error"] == "Servable not found for request: Latest(m)"


def test_manager_lookups_raise_not_found(model_base):
    manager = ModelManager([ModelConfig("m", model_base(1), version_labels={"x": 9})])
    manager.start(poll_wait_seconds=0)
    try:
        with pytest.raises(NotFoundError, match="Unrecognized servable version label: y"):
            manager.get("m", label="y")
        with pytest.raises(NotFoundError, match=r"Specific\(m, 9\)"):
            manager.get("m", label="x")
        with pytest.raises(NotFoundError, match="Could not find version 9 of model m"):
            manager.status("m", label="x")
    finally:
        manager.stop()


def test_version_policy_rules():
    """latest keeps the N newest (0 means 1), specific keeps the listed ones found, all keeps all."""
    found = [3, 1, 10, 2]
    assert VersionPolicy().select(found) == [10]
    assert VersionPolicy("latest", num_versions=0).select(found) == [10]
    assert VersionPolicy("latest", num_versions=2).select(found) == [10, 3]
    assert VersionPolicy("specific", versions=(2, 7)).select(found) == [2]
    assert VersionPolicy("all").select(found) == [10, 3, 2, 1]
    with pytest.raises(ValueError, match="Unknown version policy"):
        VersionPolicy("newest")
