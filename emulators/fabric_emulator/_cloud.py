"""The Fabric clouds the emulator can pose as: sign-in host, API and OneLake hosts, audiences."""

from __future__ import annotations

import dataclasses

from powerbi_emulator._cloud import CLOUDS as POWERBI_CLOUDS

__all__ = ["FABRIC_CLOUDS", "FabricCloud"]


@dataclasses.dataclass(frozen=True)
class FabricCloud:
    """One cloud where Fabric runs.

    `resource` is the Fabric API's token audience, `storage_resource` OneLake's; tokens for the
    Power BI audience of the same cloud (`powerbi`) are taken by the Fabric API too.
    `identity_cloud` names the Power BI cloud whose sign-in host is this cloud's.
    """

    name: str
    authority_host: str
    api_host: str
    onelake_host: str
    resource: str
    storage_resource: str
    identity_cloud: str

    @property
    def powerbi(self) -> str:
        """The Power BI audience of the cloud where users of this one sign in."""
        return POWERBI_CLOUDS[self.identity_cloud].resource

    def to_json(self) -> dict[str, str]:
        """The cloud as the emulator announces it."""
        return {
            "cloud": self.name,
            "authority_host": self.authority_host,
            "api_host": self.api_host,
            "onelake_host": self.onelake_host,
            "resource": self.resource,
            "storage_resource": self.storage_resource,
        }


FABRIC_CLOUDS: dict[str, FabricCloud] = {
    cloud.name: cloud
    for cloud in (
        FabricCloud(
            "public",
            "login.microsoftonline.com",
            "api.fabric.microsoft.com",
            "onelake.dfs.fabric.microsoft.com",
            "https://api.fabric.microsoft.com",
            "https://storage.azure.com",
            "public",
        ),
        FabricCloud(
            "usgov",
            "login.microsoftonline.us",
            "api.fabric.microsoft.us",
            "onelake.dfs.fabric.microsoft.us",
            "https://api.fabric.microsoft.us",
            "https://storage.azure.us",
            "gcc_high",
        ),
        FabricCloud(
            "china",
            "login.chinacloudapi.cn",
            "api.fabric.microsoft.cn",
            "onelake.dfs.fabric.microsoft.cn",
            "https://api.fabric.microsoft.cn",
            "https://storage.azure.cn",
            "china",
        ),
    )
}
