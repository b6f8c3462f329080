"""One settings object reads every CONNECTORKIT_* variable; the docs table is generated from it."""

from __future__ import annotations

import logging
import re

import pytest

from conftest import ROOT
from connectorkit.call._run import Runner
from connectorkit.core._settings import VARIABLES, Settings, settings_table
from connectorkit.http._bounds import CallBounds

RUNTIME = ROOT / "runtime" / "connectorkit"


def test_every_variable_fills_one_field_of_the_settings():
    assert sorted(v.field for v in VARIABLES) == sorted(Settings.__struct_fields__)
    assert len({v.name for v in VARIABLES}) == len(VARIABLES)


def test_every_variable_the_runtime_names_is_a_setting():
    named = {
        match
        for path in RUNTIME.rglob("*.py")
        for match in re.findall(r"CONNECTORKIT_[A-Z_]+", path.read_text(encoding="utf-8"))
    }
    assert named == {v.name for v in VARIABLES}


def test_only_the_settings_read_the_environment_for_them():
    for path in RUNTIME.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name == "_settings.py":
            continue
        for line in text.splitlines():
            if "environ" in line and "CONNECTORKIT_" in line and "env=" not in line:
                pytest.fail(f"{path.relative_to(ROOT)} reads a setting itself: {line.strip()}")


def test_the_documented_table_is_the_generated_one():
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert text.endswith(settings_table()), "run: python scripts/settings_doc.py"
    # The whole table, its header included: the columns a reader sees named.
    assert settings_table().startswith("| variable | what it sets | default |\n| --- |")


def test_a_setting_changes_what_a_call_does(monkeypatch):
    monkeypatch.setenv("CONNECTORKIT_TIMEOUT_MS", "1500")
    monkeypatch.setenv("CONNECTORKIT_MAX_RESPONSE_BYTES", "1024")
    runner = Runner()
    try:
        assert runner.bounds.timeout_s == 1.5
        assert runner.bounds.max_response_bytes == 1024
    finally:
        runner.close()


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("CONNECTORKIT_TIMEOUT_MS", "soon", "not a whole number"),
        ("CONNECTORKIT_TIMEOUT_MS", "0", "not a whole number"),
        ("CONNECTORKIT_LEASE_TTL", "-1", "not a number above 0"),
        ("CONNECTORKIT_LIMITS_TIME_SCALE", "fast", "not a number above 0"),
        ("CONNECTORKIT_LIMITS_TIME_SCALE", "0", "not a number above 0"),
    ],
)
def test_a_number_that_is_none_is_ignored_with_a_warning_naming_it(name, text, words, caplog):
    with caplog.at_level(logging.WARNING, logger="connectorkit"):
        read = Settings.read({name: text})
    assert read == Settings()
    assert f"{name}={text!r} is {words}" in caplog.text
    assert CallBounds.from_environment({name: text}) == CallBounds()


def test_a_fraction_above_0_is_kept():
    read = Settings.read(
        {"CONNECTORKIT_LIMITS_TIME_SCALE": "0.5", "CONNECTORKIT_LEASE_TTL": "0.25"}
    )
    assert (read.limits_time_scale, read.lease_ttl_s) == (0.5, 0.25)


def test_a_text_setting_is_taken_as_it_is_even_empty():
    read = Settings.read({"CONNECTORKIT_PACK": " my pack ", "CONNECTORKIT_CACHE_DIR": ""})
    assert read.pack == " my pack "
    assert read.cache_dir == ""  # the documented way to turn the cache off
