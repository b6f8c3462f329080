"""The pytest plugin as a pack author meets it: a new pack outside the repository, one action
written by hand and one imported from an OpenAPI document, tested with `pytest` and nothing but
the plugin's fixtures — green, then red when a request's shape is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from conftest import PACK, ROOT

PETSTORE = ROOT / "tests" / "data" / "petstore.openapi.yaml"


def command(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "connectorkit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def pytest_in(folder):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def test_a_new_pack_is_green_and_a_wrong_request_turns_it_red(tmp_path):
    folder = tmp_path / "weather_pack"
    assert not folder.resolve().is_relative_to(ROOT)
    assert command("new", "pack", str(folder), cwd=tmp_path).returncode == 0
    made = command("new", "action", "get_thing", "--path", "/things/{thing_id}", cwd=folder)
    assert made.returncode == 0, made.stderr
    imported = command("import-openapi", str(PETSTORE), "--operation", "createPet", cwd=folder)
    assert imported.returncode == 0, imported.stderr
    assert "created  actions/create_pet.yaml" in imported.stderr
    assert "multipart/form-data is not supported" in imported.stderr
    assert not (folder / "conftest.py").exists()
    # A test of the imported action, written as an author would, with the plugin's fixtures only.
    (folder / "tests" / "test_pets.py").write_text(
        "def test_create_pet(run_action):\n"
        "    call = run_action('create_pet', {'name': 'Rex', 'kind': 'dog'},\n"
        "                      response={'status': 201, 'body': {'id': 'p1', 'name': 'Rex'}})\n"
        "    assert call.ok, call.response\n"
        "    call.request.expect('POST', '/pets', body={'name': 'Rex', 'kind': 'dog'})\n"
        "    assert call.result == {'id': 'p1', 'name': 'Rex'}\n",
        encoding="utf-8",
    )
    assert command("validate", ".", cwd=folder).returncode == 0

    green = pytest_in(folder)
    assert green.returncode == 0, green.stdout + green.stderr
    # 5 files, 3 examples (one made up by the importer), 1 OpenAPI operation, 3 tests.
    assert "12 passed" in green.stdout, green.stdout

    # A deliberately wrong shape: the imported action sends `title` where the API wants `name`,
    # and the hand-written one a path its own example does not show.
    pet = folder / "actions" / "create_pet.yaml"
    pet.write_text(pet.read_text().replace("    name: '{name}'", "    title: '{name}'"))
    thing = folder / "actions" / "get_thing.yaml"
    thing.write_text(
        thing.read_text().replace("path: /things/{thing_id}", "path: /thing/{thing_id}")
    )
    red = pytest_in(folder)
    assert red.returncode == 1, red.stdout
    failed = {line.split(" ")[1] for line in red.stdout.splitlines() if line.startswith("FAILED")}
    assert failed == {
        "connector.yaml::openapi/create_pet/createPet",
        "connector.yaml::example/create_pet/1",
        "connector.yaml::example/get_thing/1",
        "tests/test_pets.py::test_create_pet",
    }, red.stdout
    assert "body: 'name' is a required property" in red.stdout
    assert (
        "path is /thing/example-thing-id, the example says /things/example-thing-id" in red.stdout
    )


def test_the_plugin_is_registered_by_installing_connectorkit():
    found = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert found.get("connectorkit") == "connectorkit.pytest_plugin"


def test_the_shipped_pack_is_its_own_conformance_suite(pytestconfig):
    # pyproject's testpaths include the pack's connector.yaml: its suite runs with the rest.
    assert "packs/powerbi/connector.yaml" in pytestconfig.getini("testpaths")
    assert Path(PACK / "connector.yaml").is_file()
