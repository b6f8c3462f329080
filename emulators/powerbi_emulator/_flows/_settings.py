"""How the long-running flows behave: their durations, sizes, limits and injected failures.

Times are emulated seconds (the clock's time scale applies). `fail` is how many of the next
operations of that flow end Failed; it counts down as they start.
"""

from __future__ import annotations

import dataclasses
import math
import types
from typing import TYPE_CHECKING, Any, TypeVar, cast, get_type_hints

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MAX_EXPORT_BYTES",
    "ActivitySettings",
    "DeploymentSettings",
    "ExportSettings",
    "FlowSettings",
    "FlowSettingsError",
    "ImportSettings",
    "RefreshSettings",
    "ScanSettings",
]

GIB = 1 << 30
MAX_EXPORT_BYTES = 4_000_000_000  # an export's zip stays below 4 GiB (no zip64)


class FlowSettingsError(ValueError):
    """A flow setting that is unknown or of the wrong type or range."""


@dataclasses.dataclass(frozen=True)
class ImportSettings:
    """Imports: Publishing for `seconds`, then Succeeded (or Failed)."""

    seconds: float = 10.0
    fail: int = 0
    error_code: str = "RequestedFileIsEncryptedOrCorrupted"
    upload_limit_bytes: int = GIB  # larger files go through a temporary upload location
    location_seconds: float = 3600.0  # how long an upload location's URL is valid


@dataclasses.dataclass(frozen=True)
class RefreshSettings:
    """Dataset refreshes: NotStarted for `queued_seconds`, InProgress for `seconds`."""

    queued_seconds: float = 2.0
    seconds: float = 30.0
    fail: int = 0
    error_code: str = "ModelRefreshFailed_CredentialsNotSpecified"
    message: str = "The credentials of a data source are missing or expired."


@dataclasses.dataclass(frozen=True)
class ExportSettings:
    """Exports to file: NotStarted, then Running for `seconds`; files of `bytes` bytes.

    `bytes` 0 gives each format's smallest natural file. `poll_seconds` is the wait the
    status poll asks for (Retry-After). A failure with `fail_retry_after` set is transient:
    the failed status carries that Retry-After, as the service does when it is busy.
    """

    queued_seconds: float = 1.0
    seconds: float = 10.0
    poll_seconds: float = 5.0
    bytes: int = 0
    fail: int = 0
    fail_retry_after: int | None = None


@dataclasses.dataclass(frozen=True)
class ScanSettings:
    """The admin scanner: scans and the hourly limits Power BI documents for it."""

    queued_seconds: float = 1.0
    seconds: float = 5.0
    fail: int = 0
    error_code: str = "ScanFailed"
    modified_per_hour: int = 30
    get_info_per_hour: int = 500
    concurrent_scans: int = 16
    status_per_hour: int = 10_000
    result_per_hour: int = 500


@dataclasses.dataclass(frozen=True)
class ActivitySettings:
    """The activity log: `events_per_day` deterministic events, paged by continuation."""

    events_per_day: int = 2_400
    page_size: int = 5_000
    per_hour: int = 200
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class DeploymentSettings:
    """Deployment pipelines: a deployment is NotStarted, then Executing for `seconds`."""

    queued_seconds: float = 1.0
    seconds: float = 20.0
    fail: int = 0
    error_code: str = "DeploymentFailed"


_Section = TypeVar("_Section")


@dataclasses.dataclass(frozen=True)
class FlowSettings:
    """Every flow's settings; JSON `{"exports": {"seconds": 60}, ...}` in the control API."""

    imports: ImportSettings = ImportSettings()
    refreshes: RefreshSettings = RefreshSettings()
    exports: ExportSettings = ExportSettings()
    scans: ScanSettings = ScanSettings()
    activity: ActivitySettings = ActivitySettings()
    deployments: DeploymentSettings = DeploymentSettings()

    def merged(self, patch: Mapping[str, object]) -> FlowSettings:
        """These settings with `patch` applied; raises FlowSettingsError naming a bad field."""
        sections = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        unknown = sorted(set(patch) - set(sections))
        if unknown:
            raise FlowSettingsError(
                f"unknown flow(s) {', '.join(unknown)}; known: {', '.join(sections)}"
            )
        changed: dict[str, Any] = {}
        for name, values in patch.items():
            if not isinstance(values, dict):
                raise FlowSettingsError(f"{name} must be an object of settings")
            changed[name] = _merge_section(name, sections[name], cast("dict[str, Any]", values))
        merged = dataclasses.replace(self, **changed)
        if merged.exports.bytes > MAX_EXPORT_BYTES:
            raise FlowSettingsError(f"exports.bytes must be at most {MAX_EXPORT_BYTES}")
        return merged

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> FlowSettings:
        """Settings from their JSON form (defaults for what it leaves out)."""
        return cls().merged(data)

    def to_json(self) -> dict[str, dict[str, object]]:
        """The settings as JSON."""
        return {f.name: dataclasses.asdict(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _merge_section(flow: str, section: _Section, values: dict[str, Any]) -> _Section:
    hints = get_type_hints(type(section))
    known = {f.name for f in dataclasses.fields(cast("Any", section))}
    unknown = sorted(set(values) - known)
    if unknown:
        raise FlowSettingsError(
            f"unknown {flow} setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    checked = {key: _check(f"{flow}.{key}", hints[key], value) for key, value in values.items()}
    return cast("_Section", dataclasses.replace(cast("Any", section), **checked))


def _check(name: str, hint: object, value: object) -> object:
    """`value` if it fits `hint` (float, int, str, or one of them or None); else raise."""
    allowed = hint.__args__ if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        raise FlowSettingsError(f"{name} must not be null")
    if isinstance(value, bool):
        raise FlowSettingsError(f"{name} must be a {_describe(allowed)}, not a boolean")
    if float in allowed and isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise FlowSettingsError(f"{name} must be a finite number >= 0")
        return float(value)
    if int in allowed and isinstance(value, int):
        if value < 0:
            raise FlowSettingsError(f"{name} must be >= 0")
        return value
    if str in allowed and isinstance(value, str) and value:
        return value
    raise FlowSettingsError(f"{name} must be a {_describe(allowed)}")


def _describe(allowed: tuple[object, ...]) -> str:
    words = {float: "number", int: "whole number", str: "non-empty string"}
    return " or ".join(words[kind] for kind in allowed if kind in words)
