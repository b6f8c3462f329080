"""The Power BI clouds the emulator can pose as: their sign-in and API hosts, and resource."""

from __future__ import annotations

import dataclasses

__all__ = ["CLOUDS", "Cloud", "public_origin"]


@dataclasses.dataclass(frozen=True)
class Cloud:
    """One Power BI cloud: where users sign in, where the API is, and the token audience."""

    name: str
    authority_host: str
    api_host: str
    resource: str

    @property
    def hosts(self) -> frozenset[str]:
        """The real host names of this cloud (requests for them are answered over https)."""
        return frozenset({self.authority_host, self.api_host})

    def to_json(self) -> dict[str, str]:
        """The cloud as the emulator announces it."""
        return {
            "cloud": self.name,
            "authority_host": self.authority_host,
            "api_host": self.api_host,
            "resource": self.resource,
        }


CLOUDS: dict[str, Cloud] = {
    cloud.name: cloud
    for cloud in (
        Cloud(
            "public",
            "login.microsoftonline.com",
            "api.powerbi.com",
            "https://analysis.windows.net/powerbi/api",
        ),
        Cloud(
            "gcc",
            "login.microsoftonline.com",
            "api.powerbigov.us",
            "https://analysis.usgovcloudapi.net/powerbi/api",
        ),
        Cloud(
            "gcc_high",
            "login.microsoftonline.us",
            "api.high.powerbigov.us",
            "https://high.analysis.usgovcloudapi.net/powerbi/api",
        ),
        Cloud(
            "dod",
            "login.microsoftonline.us",
            "api.mil.powerbigov.us",
            "https://mil.analysis.usgovcloudapi.net/powerbi/api",
        ),
        Cloud(
            "china",
            "login.chinacloudapi.cn",
            "api.powerbi.cn",
            "https://analysis.chinacloudapi.cn/powerbi/api",
        ),
    )
}

_REAL_HOSTS = frozenset().union(*(cloud.hosts for cloud in CLOUDS.values()))


def public_origin(origin: str, headers: dict[str, str]) -> str:
    """The origin clients reached, as they see it.

    `https` for a real cloud host (a TLS-terminating proxy in front of the emulator) or when
    `X-Forwarded-Proto` says so; else what the socket saw.
    """
    scheme, _, host = origin.partition("://")
    forwarded = headers.get("x-forwarded-proto", "").split(",", 1)[0].strip().lower()
    if forwarded in {"http", "https"}:
        scheme = forwarded
    elif host.rsplit(":", 1)[0].lower() in _REAL_HOSTS:
        scheme = "https"
        host = host.removesuffix(":443").removesuffix(":80")
    return f"{scheme}://{host}"
