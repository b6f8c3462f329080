"""Publishing a .pbix: multipart uploads and the temporary upload location, over real HTTP.

An import is Publishing, then Succeeded (its dataset and report listed) or Failed; the
name conflict modes; uploads streamed at any size; the Azure block blob endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile

import httpx

import flows_helpers
from flows_helpers import (
    IN_SALES,
    SALES,
    Api,
    blob_error,
    block_id,
    error_of,
    put_blocks,
    wait_until,
    with_query,
)
from powerbi_emulator import running

api, emu = flows_helpers.api, flows_helpers.emu  # shared fixtures


def pbix(size: int = 4096) -> bytes:
    """A zip of about `size` bytes (random, so it does not compress)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("DataModel", os.urandom(size))
        archive.writestr("Report/Layout", b'{"sections": []}')
    return buffer.getvalue()


def upload(api, name: str, data: bytes, group: str = IN_SALES, **params: str) -> httpx.Response:
    return api.post(
        f"{group}/imports",
        params={"datasetDisplayName": name, **params},
        files={"file": (name, data, "application/octet-stream")},
    )


def state_of(api, import_id: str, group: str = IN_SALES) -> dict:
    return api.get(f"{group}/imports/{import_id}").json()


def names(api, kind: str, group: str = IN_SALES) -> list[str]:
    return [item["name"] for item in api.get(f"{group}/{kind}").json()["value"]]


def test_a_1_mb_pbix_is_published_then_listed(emu, api):
    data = pbix(1 << 20)
    started = upload(api, "Quarterly Sales.pbix", data, nameConflict="Abort")
    assert started.status_code == 202, started.text
    assert set(started.json()) == {"id"}
    import_id = started.json()["id"]

    publishing = state_of(api, import_id)
    assert (publishing["importState"], publishing["datasets"], publishing["reports"]) == (
        "Publishing",
        [],
        [],
    )
    assert "Quarterly Sales" not in names(api, "datasets")  # nothing until it is published

    emu.advance_clock(10)
    done = state_of(api, import_id)
    assert done["importState"] == "Succeeded"
    assert done["updatedDateTime"] > done["createdDateTime"]
    [dataset], [report] = done["datasets"], done["reports"]
    assert dataset["name"] == report["name"] == "Quarterly Sales"
    listed = {d["name"]: d for d in api.get(f"{IN_SALES}/datasets").json()["value"]}
    assert listed["Quarterly Sales"]["id"] == dataset["id"]
    reports = {r["id"]: r for r in api.get(f"{IN_SALES}/reports").json()["value"]}
    assert reports[report["id"]]["datasetId"] == dataset["id"]
    # The upload arrived whole: its size and digest are in the request log.
    [logged] = [e for e in emu.requests(kind="api") if e["method"] == "POST"]
    assert logged["upload"] == {
        "filename": "Quarterly Sales.pbix",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_publishing_takes_the_emulated_time_of_a_scaled_clock():
    with running(time_scale=100) as emu:
        api = Api(emu)
        import_id = upload(api, "Scaled.pbix", pbix()).json()["id"]
        assert state_of(api, import_id)["importState"] == "Publishing"
        # 10 emulated seconds at 100x: Succeeded a tenth of a real second later.
        final = wait_until(
            lambda: (s := state_of(api, import_id)["importState"]) != "Publishing" and s
        )
        assert final == "Succeeded"
        api.close()


def test_a_file_that_is_not_a_zip_fails_to_import(emu, api):
    import_id = upload(api, "Broken.pbix", b"this is no zip").json()["id"]
    emu.advance_clock(10)
    failed = state_of(api, import_id)
    assert failed["importState"] == "Failed"
    assert failed["error"]["code"] == "RequestedFileIsEncryptedOrCorrupted"
    assert failed["datasets"] == []
    assert "Broken" not in names(api, "datasets")


def test_the_control_api_makes_the_next_import_fail(emu, api):
    emu.set_flows(imports={"fail": 1, "error_code": "PackageNotValid"})
    first = upload(api, "One.pbix", pbix()).json()["id"]
    second = upload(api, "Two.pbix", pbix()).json()["id"]
    assert emu.flows()["settings"]["imports"]["fail"] == 0  # used up
    emu.advance_clock(10)
    assert state_of(api, first)["error"]["code"] == "PackageNotValid"
    assert state_of(api, second)["importState"] == "Succeeded"


def test_name_conflict_modes(emu, api):
    def publish(mode: str, name: str = "Sales Pipeline.pbix") -> httpx.Response:
        response = upload(api, name, pbix(), nameConflict=mode)
        emu.advance_clock(10)
        return response

    seed = {d["name"]: d["id"] for d in api.get(f"{IN_SALES}/datasets").json()["value"]}
    assert error_of(publish("Abort"), 409)["code"] == "DuplicatePackageNameError"

    overwritten = state_of(api, publish("Overwrite").json()["id"])
    assert overwritten["datasets"][0]["id"] == seed["Sales Pipeline"]  # replaced in place
    assert names(api, "datasets").count("Sales Pipeline") == 1

    assert error_of(publish("Overwrite", "Brand New.pbix"), 400)["code"] == "InvalidRequest"
    created = state_of(api, publish("CreateOrOverwrite", "Brand New.pbix").json()["id"])
    assert created["importState"] == "Succeeded"
    again = state_of(api, publish("CreateOrOverwrite", "Brand New.pbix").json()["id"])
    assert again["datasets"][0]["id"] == created["datasets"][0]["id"]

    unique = state_of(api, publish("GenerateUniqueName").json()["id"])
    assert unique["datasets"][0]["name"] == "Sales Pipeline (1)"
    publish("Ignore")  # a second dataset of the same name
    assert names(api, "datasets").count("Sales Pipeline") == 2
    assert error_of(publish("Sideways"), 400)["code"] == "InvalidRequest"


def test_a_paginated_report_takes_abort_or_overwrite_only(emu, api):
    rdl = b'<?xml version="1.0"?><Report xmlns="http://schemas.microsoft.com/sqlserver/"/>'
    first = upload(api, "Invoice.rdl", rdl)
    assert first.status_code == 202
    emu.advance_clock(10)
    assert error_of(upload(api, "Invoice.rdl", rdl), 409)["code"] == "DuplicatePackageNameError"
    message = error_of(upload(api, "Invoice.rdl", rdl, nameConflict="Ignore"), 400)["message"]
    assert "Abort, Overwrite" in message
    replaced = upload(api, "Invoice.rdl", rdl, nameConflict="Overwrite")
    emu.advance_clock(10)
    record = state_of(api, replaced.json()["id"])
    assert record["datasets"] == []
    assert record["reports"][0]["id"] == state_of(api, first.json()["id"])["reports"][0]["id"]
    paginated = [
        r for r in api.get(f"{IN_SALES}/reports").json()["value"] if r["name"] == "Invoice"
    ]
    assert [(r["reportType"], "datasetId" in r) for r in paginated] == [("PaginatedReport", False)]


def test_a_multipart_upload_larger_than_the_limit_is_refused(emu, api):
    emu.set_flows(imports={"upload_limit_bytes": 100_000})
    refused = upload(api, "Huge.pbix", pbix(300_000))
    error = error_of(refused, 413)
    assert error["code"] == "RequestEntityTooLarge"
    assert "createTemporaryUploadLocation" in error["message"]
    assert upload(api, "Small.pbix", pbix(50_000)).status_code == 202


def test_an_upload_larger_than_any_request_body_streams_through(emu, api):
    data = pbix(80 << 20)  # over the 64 MB a request body may otherwise have
    started = upload(api, "Large.pbix", data)
    assert started.status_code == 202, started.text
    [logged] = [e for e in emu.requests(kind="api") if e["method"] == "POST"]
    assert logged["upload"]["bytes"] == len(data)
    assert logged["upload"]["sha256"] == hashlib.sha256(data).hexdigest()


# -- the temporary upload location ---------------------------------------------------------------


def test_a_large_file_goes_through_the_upload_location_in_blocks(emu, api):
    location = api.post(f"{IN_SALES}/imports/createTemporaryUploadLocation")
    assert location.status_code == 200
    body = location.json()
    assert set(body) == {"Url", "ExpirationTime"}
    url = body["Url"]
    assert "/_blob/" in url
    assert "sig=" in url
    assert "se=" in url

    data = pbix(3 << 20)
    put_blocks(url, data, 1 << 20)
    head = httpx.head(url, timeout=10)
    assert (head.status_code, int(head.headers["content-length"])) == (200, len(data))

    started = api.post(
        f"{IN_SALES}/imports",
        params={"datasetDisplayName": "Very Large.pbix", "nameConflict": "CreateOrOverwrite"},
        json={"fileUrl": url},
    )
    assert started.status_code == 202, started.text
    emu.advance_clock(10)
    record = state_of(api, started.json()["id"])
    assert (record["importState"], record["source"]) == ("Succeeded", "Url")
    assert "Very Large" in names(api, "datasets")


def test_put_blob_uploads_in_one_request(emu, api):
    url = api.post(f"{IN_SALES}/imports/createTemporaryUploadLocation").json()["Url"]
    missing = httpx.put(url, content=pbix())
    assert blob_error(missing, 400) == "MissingRequiredHeader"
    done = httpx.put(url, content=pbix(), headers={"x-ms-blob-type": "BlockBlob"})
    assert done.status_code == 201
    assert done.headers["etag"]
    assert done.headers["content-md5"]
    assert done.headers["x-ms-request-id"]


def test_the_blob_endpoint_answers_as_azure_does(emu, api):
    url = api.post(f"{IN_SALES}/imports/createTemporaryUploadLocation").json()["Url"]
    with httpx.Client(timeout=10) as blob:
        ok = blob.put(with_query(url, comp="block", blockid=block_id(1)), content=b"PK\x03\x04")
        assert ok.status_code == 201
        digest = hashlib.md5(b"PK\x03\x04", usedforsecurity=False).digest()
        assert ok.headers["content-md5"] == base64.b64encode(digest).decode()
        short = blob.put(with_query(url, comp="block", blockid="QQ=="), content=b"x")
        assert blob_error(short, 400) == "InvalidBlobOrBlock"
        bad_id = blob.put(with_query(url, comp="block", blockid="not base64!"), content=b"x")
        assert blob_error(bad_id, 400) == "InvalidQueryParameterValue"
        unknown = blob.put(
            with_query(url, comp="blocklist"),
            content=f"<BlockList><Latest>{block_id(9)}</Latest></BlockList>",
        )
        assert blob_error(unknown, 400) == "InvalidBlockList"
        listing = blob.get(with_query(url, comp="blocklist"))
        assert f"<Name>{block_id(1)}</Name><Size>4</Size>" in listing.text
        tampered = url.replace("sig=", "sig=x")
        assert blob_error(blob.put(tampered, content=b"x"), 403) == "AuthenticationFailed"
        without_sas = blob.put(url.split("?")[0], content=b"x")
        assert blob_error(without_sas, 403) == "AuthenticationFailed"
        download = blob.get(url)
        assert blob_error(download, 405) == "UnsupportedHttpVerb"

    # A file URL the import cannot read: nothing committed yet.
    not_committed = api.post(
        f"{IN_SALES}/imports", params={"datasetDisplayName": "A.pbix"}, json={"fileUrl": url}
    )
    assert "BlobNotFound" in error_of(not_committed, 400)["message"]


def test_an_upload_location_expires_after_an_hour(emu, api):
    url = api.post(f"{IN_SALES}/imports/createTemporaryUploadLocation").json()["Url"]
    emu.advance_clock(3601)
    late = httpx.put(url, content=b"PK", headers={"x-ms-blob-type": "BlockBlob"})
    assert blob_error(late, 403) == "AuthenticationFailed"
    assert "Signed expiry time" in late.text


def test_a_fault_on_the_blob_endpoint_is_injected_like_any_other(emu, api):
    url = api.post(f"{IN_SALES}/imports/createTemporaryUploadLocation").json()["Url"]
    emu.set_fault(path="^/_blob/", method="PUT", status=503, count=1)
    first = httpx.put(url, content=b"PK\x03\x04", headers={"x-ms-blob-type": "BlockBlob"})
    assert first.status_code == 503
    second = httpx.put(url, content=b"PK\x03\x04", headers={"x-ms-blob-type": "BlockBlob"})
    assert second.status_code == 201
    assert [e["status"] for e in emu.requests(kind="blob")] == [503, 201]


def test_a_service_principal_imports_into_a_workspace_only(emu):
    app = Api(emu, principal="app")
    try:
        refused = upload(app, "Mine.pbix", pbix(), group="")
        assert error_of(refused, 403)["code"] == "PowerBINotAuthorizedException"
        assert upload(app, "Shared.pbix", pbix()).status_code == 202
        emu.advance_clock(10)
        assert "Shared" in names(app, "datasets", f"/groups/{SALES}")
    finally:
        app.close()
