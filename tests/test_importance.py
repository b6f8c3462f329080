"""Importance: important actions and inputs first, advanced ones folded away, internal unlisted."""

from __future__ import annotations

import pytest
import yaml

from conftest import copy_pack
from connectorkit.authoring._catalog import describe, designer_order
from connectorkit.core._errors import PackError
from connectorkit.pack._load import load_pack

SEED = {
    "create_dataset",
    "create_rows",
    "delete_rows",
    "list_datasets",
    "list_groups",
    "list_reports",
    "list_tables",
    "update_table",
    "raw_request",
}


def edit(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_the_nine_everyday_actions_are_important_and_come_first(pack):
    catalog = describe(pack)
    important = {a["key"] for a in catalog["actions"] if a.get("importance") == "important"}
    assert important == SEED
    listed = [key for group in catalog["groups"] for key in group["actions"]]
    entries = {a["key"]: a for a in catalog["actions"]}
    # Inside every group, its important actions come before the others.
    for group in catalog["groups"]:
        ranks = [entries[k].get("importance") != "important" for k in group["actions"]]
        assert ranks == sorted(ranks), group["label"]
    # Every group holding an important action comes before every group that holds none.
    holding = [any(k in SEED for k in g["actions"]) for g in catalog["groups"]]
    assert holding == sorted(holding, reverse=True)
    assert sorted(listed) == sorted(pack.actions)


def test_the_administrators_actions_are_advanced_and_listed_last(pack):
    catalog = describe(pack)
    assert catalog["groups"][-1]["label"] == "Admin"
    admin = catalog["groups"][-1]["actions"]
    assert len(admin) > 50
    assert all(pack.actions[k].importance == "advanced" for k in admin)
    elsewhere = [k for g in catalog["groups"][:-1] for k in g["actions"]]
    assert not any(pack.actions[k].importance == "advanced" for k in elsewhere)


def test_an_internal_action_is_described_but_not_listed_and_an_input_says_its_importance(
    tmp_path,
):
    root = copy_pack(tmp_path / "pack")
    edit(root / "actions" / "get_dataset.yaml", lambda d: d.update(importance="internal"))

    def fold(data):
        uses = {i.get("use"): i for i in data["inputs"]}
        uses["group_id"]["importance"] = "advanced"
        uses["dataset_id"]["importance"] = "important"

    edit(root / "actions" / "list_tables.yaml", fold)
    pack = load_pack(root)
    catalog = describe(pack)
    entry = next(a for a in catalog["actions"] if a["key"] == "get_dataset")
    assert entry["importance"] == "internal"
    assert "get_dataset" not in [k for g in catalog["groups"] for k in g["actions"]]
    ordered = designer_order(pack.actions.values())
    assert "get_dataset" not in [a.key for _, group in ordered for a in group]
    inputs = next(a for a in catalog["actions"] if a["key"] == "list_tables")["inputs"]
    assert inputs["properties"]["dataset_id"]["x-importance"] == "important"
    assert inputs["properties"]["group_id"]["x-importance"] == "advanced"
    assert "x-importance" not in inputs["properties"]["top"]


@pytest.mark.parametrize("where", ["action", "input"])
def test_an_importance_that_is_not_a_word_of_the_format_is_refused_where_it_is(tmp_path, where):
    root = copy_pack(tmp_path / "pack")

    def change(data):
        if where == "action":
            data["importance"] = "high"
        else:
            data["inputs"][0]["importance"] = "high"

    edit(root / "actions" / "list_tables.yaml", change)
    with pytest.raises(PackError) as caught:
        load_pack(root)
    text = str(caught.value)
    assert "actions/list_tables.yaml" in text
    assert '"high" is not allowed: use one of "important", "advanced", "internal"' in text
