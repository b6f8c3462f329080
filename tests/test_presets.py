from __future__ import annotations

from connectorkit._presets import ErrorHint, hint_for, preset_values

SETS = {
    "cloud": {
        "public": {
            "authority": "https://login.microsoftonline.com",
            "api_url": "https://api.powerbi.com",
        },
        "gcc_high": {
            "authority": "https://login.microsoftonline.us",
            "api_url": "https://api.high.powerbigov.us",
        },
        "custom": {},
    }
}


def test_the_chosen_set_fills_what_the_caller_did_not_give():
    values = {"cloud": "gcc_high", "api_url": "https://proxy.example"}
    assert preset_values(SETS, values, given={"cloud", "api_url"}) == {
        "authority": "https://login.microsoftonline.us"
    }


def test_an_empty_set_or_no_selector_fills_nothing():
    assert preset_values(SETS, {"cloud": "custom"}, given={"cloud"}) == {}
    assert preset_values(SETS, {"tenant_id": "x"}, given=set()) == {}


def test_hints_match_any_text_case_insensitively():
    hints = [ErrorHint("AADSTS500011", "set `cloud`"), ErrorHint("AADSTS90002", "tenant")]
    assert hint_for(hints, "refused: invalid_resource (aadsts500011: …)") == "set `cloud`"
    assert hint_for(hints, None, "AADSTS90002: Tenant 'x' not found") == "tenant"
    assert hint_for(hints, "invalid_client") is None
