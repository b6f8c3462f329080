"""Load: the shipped pack becomes immutable definitions; a broken pack names every problem."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import PACK, copy_pack
from connectorkit.core._errors import PackError
from connectorkit.pack._load import default_pack_root, load_pack


def test_shipped_pack_loads(pack):
    assert pack.key == "powerbi"
    assert pack.default_connection == "oauth2"
    assert set(pack.connections) == {
        "oauth2",
        "client_credentials",
        "service_principal_certificate",
        "service_principal_federated",
        "managed_identity",
    }
    # Every file of actions/ is an action of the pack, under its file name.
    assert set(pack.actions) == {p.stem for p in (PACK / "actions").glob("*.yaml")}


def test_shared_inputs_are_resolved_and_call_inputs_appended(pack):
    action = pack.actions["list_tables"]
    keys = [i.key for i in action.inputs]
    assert keys[:4] == ["dataset_id", "top", "page_offset", "group_id"]
    assert {
        "timeout",
        "max_retry_count",
        "retry_delay_ms",
        "use_exponential_backoff",
        "retry_on_all_errors",
        "debug_request",
    } <= set(keys)
    dataset_id = action.input("dataset_id")
    assert dataset_id is not None
    assert dataset_id.required
    assert dataset_id.label == "Dataset ID"
    top = action.input("top")
    assert top is not None
    assert (top.minimum, top.maximum) == (1, 1000)
    assert next(i for i in action.inputs if i.key == "timeout").call_input


def test_definitions_are_immutable(pack):
    action = pack.actions["create_rows"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        action.label = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        pack.actions["x"] = action  # type: ignore[index]
    assert action.request.batch is not None
    assert (action.request.batch.input, action.request.batch.size) == ("rows", 10_000)


def test_default_pack_root_is_the_repository(monkeypatch):
    monkeypatch.delenv("CONNECTORKIT_PACK", raising=False)
    assert default_pack_root() == PACK


def test_env_selects_another_pack(monkeypatch, tmp_path):
    monkeypatch.setenv("CONNECTORKIT_PACK", str(tmp_path))
    assert default_pack_root() == tmp_path


def test_broken_pack_lists_every_problem(tmp_path):
    copy_pack(tmp_path)
    (tmp_path / "actions" / "list_groups.yaml").write_text(
        (PACK / "actions" / "list_groups.yaml").read_text().replace("label:", "lable:", 1)
    )
    (tmp_path / "actions" / "broken.yaml").write_text("key: broken\n  label: [\n")
    with pytest.raises(PackError) as exc:
        load_pack(tmp_path)
    files = {p.file for p in exc.value.problems}
    assert {"actions/list_groups.yaml", "actions/broken.yaml"} <= files
    assert all(p.line for p in exc.value.problems)


def test_a_repeated_key_is_a_problem_not_a_silent_overwrite(tmp_path):
    copy_pack(tmp_path)
    path = tmp_path / "actions" / "list_groups.yaml"
    path.write_text(path.read_text() + "label: Second Label\n")
    lines = path.read_text().count("\n")
    with pytest.raises(PackError) as exc:
        load_pack(tmp_path)
    [problem] = exc.value.problems
    assert problem.file == "actions/list_groups.yaml"
    assert problem.line == lines
    assert "appears twice" in problem.message


def _no_check(*_args, **_kwargs):
    raise AssertionError("the pack was checked again")


def test_an_unchanged_pack_is_not_parsed_or_checked_again(tmp_path, monkeypatch):
    copy_pack(tmp_path / "pack")
    monkeypatch.setenv("CONNECTORKIT_CACHE_DIR", str(tmp_path / "cache"))
    first = load_pack(tmp_path / "pack")
    monkeypatch.setattr("connectorkit.pack._check.check_documents", _no_check)
    monkeypatch.setattr("connectorkit.pack._read.read_documents", _no_check)
    second = load_pack(tmp_path / "pack")
    assert second == first


def test_an_edited_pack_is_checked_again(tmp_path, monkeypatch):
    root = copy_pack(tmp_path / "pack")
    monkeypatch.setenv("CONNECTORKIT_CACHE_DIR", str(tmp_path / "cache"))
    load_pack(root)
    path = root / "actions" / "list_groups.yaml"
    path.write_text(path.read_text().replace("label: List Groups", "lable: List Groups", 1))
    with pytest.raises(PackError) as exc:
        load_pack(root)
    assert [p.file for p in exc.value.problems] == ["actions/list_groups.yaml"]


def test_a_broken_cache_entry_falls_back_to_a_full_load(tmp_path, monkeypatch):
    root = copy_pack(tmp_path / "pack")
    cache = tmp_path / "cache"
    monkeypatch.setenv("CONNECTORKIT_CACHE_DIR", str(cache))
    expected = load_pack(root)
    [entry] = cache.glob("pack-*.json")
    entry.write_text('{"key": "truncat')
    assert load_pack(root) == expected


def test_an_empty_cache_dir_setting_turns_the_cache_off(tmp_path, monkeypatch):
    root = copy_pack(tmp_path / "pack")
    monkeypatch.setenv("CONNECTORKIT_CACHE_DIR", "")
    load_pack(root)
    calls = []
    monkeypatch.setattr(
        "connectorkit.pack._check.check_documents", lambda *a: calls.append(a) or []
    )
    load_pack(root)
    assert len(calls) == 1


def test_a_cached_pack_builds_only_the_actions_a_call_asks_for(tmp_path, monkeypatch):
    root = copy_pack(tmp_path / "pack")
    monkeypatch.setenv("CONNECTORKIT_CACHE_DIR", str(tmp_path / "cache"))
    load_pack(root)
    pack = load_pack(root)  # from the cache
    assert "list_tables" in pack.actions
    assert len(pack.actions) == len(list((root / "actions").glob("*.yaml")))
    assert pack.actions["list_groups"].key == "list_groups"
    assert set(pack.actions._built) == {"list_groups"}
    assert sorted(pack.actions) == sorted(p.stem for p in (root / "actions").glob("*.yaml"))
    assert {a.key for a in pack.actions.values()} == set(pack.actions)
