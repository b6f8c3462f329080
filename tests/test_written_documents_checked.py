"""`new` and `import-openapi` check every pack document by its model before writing any file.

A document the model refuses is not written: the command names the document (and, for the
importer, the operation) and each field, exits 2, and leaves the pack as it was.
"""

from __future__ import annotations

import pytest

from conftest import ROOT
from connectorkit.authoring import _scaffold
from connectorkit.authoring.openapi import _import
from connectorkit.authoring.openapi._command import main as import_main

PETSTORE = ROOT / "tests" / "data" / "petstore.openapi.yaml"
METHODS = "Input should be 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD' or 'OPTIONS'"


def files_under(folder):
    return sorted(
        (p.relative_to(folder).as_posix(), p.read_bytes()) for p in folder.rglob("*") if p.is_file()
    )


@pytest.fixture
def pack(tmp_path):
    folder = tmp_path / "pets"
    assert _scaffold.main(["pack", str(folder)]) == 0
    return folder


def breaking(monkeypatch, change):
    """Make the importer's generation hand ``change`` the data of the action of createPet."""
    generate = _import.generate

    def broken(operations, **settings):
        made = generate(operations, **settings)
        for item in made:
            if item.operations[0].id == "createPet":
                change(item.data)
        return made

    monkeypatch.setattr(_import, "generate", broken)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda data: data["request"].update(method="FETCH"), f"request.method: {METHODS}"),
        (
            lambda data: data.update(retries=3),
            "retries: Extra inputs are not permitted",
        ),
        (
            lambda data: data["inputs"][0].update(type="text"),
            # "definition": the member of the union of a `use` and a whole definition.
            (
                "inputs.0.definition.type: Input should be 'string', 'integer', 'number', "
                "'boolean', 'object', 'array', 'key_value', 'json' or 'file'"
            ),
        ),
    ],
)
def test_an_imported_action_the_model_refuses_is_not_written(
    pack, monkeypatch, capsys, change, problem
):
    breaking(monkeypatch, change)
    before = files_under(pack)
    capsys.readouterr()
    code = import_main([str(PETSTORE), "--pack", str(pack)])
    assert code == 2
    assert capsys.readouterr().err == (
        f"connectorkit: cannot import {PETSTORE}: operation createPet: "
        f"actions/create_pet.yaml would not be valid ({problem}); nothing was written\n"
    )
    # Not even the actions the model takes, nor the document and its openapi block.
    assert files_under(pack) == before


def test_a_refused_action_is_reported_by_a_dry_run_too(pack, monkeypatch, capsys):
    breaking(monkeypatch, lambda data: data["request"].update(method="FETCH"))
    capsys.readouterr()
    assert import_main([str(PETSTORE), "--pack", str(pack), "--dry-run"]) == 2
    assert "operation createPet: actions/create_pet.yaml would not be valid" in (
        capsys.readouterr().err
    )


def test_the_actions_the_model_takes_are_written(pack, capsys):
    assert import_main([str(PETSTORE), "--pack", str(pack)]) == 0
    assert "  created  actions/create_pet.yaml" in capsys.readouterr().err
    assert (pack / "actions" / "create_pet.yaml").is_file()
    assert "openapi:\n  document: openapi/petstore.openapi.yaml\n" in (
        (pack / "connector.yaml").read_text(encoding="utf-8")
    )


def test_a_new_action_with_a_method_the_model_refuses_is_not_written(pack, capsys):
    before = files_under(pack)
    capsys.readouterr()
    code = _scaffold.main(["action", "fetch_thing", "--method", "fetch", "--pack", str(pack)])
    assert code == 2
    assert capsys.readouterr().err == (
        f"connectorkit: actions/fetch_thing.yaml would not be valid (request.method: {METHODS}; "
        f"examples.0.request.method: {METHODS}); nothing was written\n"
    )
    assert files_under(pack) == before


def test_a_new_pack_with_a_key_the_model_refuses_is_not_written(tmp_path, capsys):
    folder = tmp_path / "crm"
    assert _scaffold.main(["pack", str(folder), "--key", "My-CRM"]) == 2
    assert capsys.readouterr().err == (
        "connectorkit: connector.yaml would not be valid (key: String should match pattern "
        "'^[a-z][a-z0-9_]*$'); nothing was written\n"
    )
    assert not folder.exists()


def test_a_new_pack_whose_key_breaks_the_yaml_is_not_written(tmp_path, capsys):
    folder = tmp_path / "crm"
    assert _scaffold.main(["pack", str(folder), "--key", "crm: x"]) == 2
    assert capsys.readouterr().err == (
        "connectorkit: connector.yaml would not be YAML (mapping values are not allowed here, "
        "line 2); nothing was written\n"
    )
    assert not folder.exists()


def test_a_scaffolded_document_the_model_refuses_is_not_written(tmp_path, monkeypatch, capsys):
    # The connection is fixed text: a template that went wrong is caught before writing.
    monkeypatch.setattr(
        _scaffold, "_CONNECTION", _scaffold._CONNECTION.replace("grant:", "grants:")
    )
    folder = tmp_path / "crm"
    assert _scaffold.main(["pack", str(folder)]) == 2
    assert capsys.readouterr().err == (
        "connectorkit: connections/client_credentials.yaml would not be valid (grants: Extra "
        "inputs are not permitted); nothing was written\n"
    )
    assert not folder.exists()


def test_an_imported_trigger_the_model_refuses_is_not_written(pack, monkeypatch, capsys):
    definition = ROOT / "tests" / "data" / "triggers_import" / "apiDefinition.swagger.json"
    trigger_of = _import.trigger_of

    def broken(operation, *args, **kwargs):
        data, why = trigger_of(operation, *args, **kwargs)
        if data is not None and operation.id == "PollFolderForFileUpload":
            data["every"] = "5m"
        return data, why

    monkeypatch.setattr(_import, "trigger_of", broken)
    before = files_under(pack)
    capsys.readouterr()
    assert import_main([str(definition), "--pack", str(pack)]) == 2
    assert capsys.readouterr().err == (
        f"connectorkit: cannot import {definition}: operation PollFolderForFileUpload: "
        "triggers/when_a_file_is_uploaded.yaml would not be valid (every: Extra inputs are not "
        "permitted); nothing was written\n"
    )
    assert files_under(pack) == before
