"""The identity part of the control API: app credentials, managed identities, the test issuer.

Under `/_emulator/`:

- `GET apps`, `GET apps/{client_id}`: the apps and their credentials (never a secret);
- `POST apps/{client_id}/certificates` `{"certificate": PEM}`, and
  `DELETE apps/{client_id}/certificates/{thumbprint}`;
- `POST apps/{client_id}/federated-credentials` `{"subject", "issuer"?, "audiences"?,
  "name"?}`, and `DELETE apps/{client_id}/federated-credentials/{name}`;
- `GET managed-identities`: the host's identities;
- `GET issuer/.well-known/openid-configuration`, `GET issuer/keys`: the test issuer;
- `GET issuer/token?audience=...` with the request token, as GitHub Actions answers a job;
  `POST issuer/token` `{"subject"?, "audience"?, "expires_in"?}` for tests.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import TYPE_CHECKING

from powerbi_emulator._config import ConfigError, FederatedCredential
from powerbi_emulator._http import ApiError, HttpRequest, HttpResponse
from powerbi_emulator._issuer import TOKEN_LIFETIME

if TYPE_CHECKING:
    from powerbi_emulator._credentials import AppRecord, AppRegistry
    from powerbi_emulator._issuer import TestIssuer
    from powerbi_emulator._managed import ManagedIdentityEndpoints

__all__ = ["IdentityControl"]

JsonObject = dict[str, object]


def _bad(message: str) -> ApiError:
    return ApiError(400, "InvalidRequest", message)


class IdentityControl:
    """Answers the control API's `apps`, `managed-identities` and `issuer` paths."""

    PREFIXES = frozenset({"apps", "managed-identities", "issuer"})

    def __init__(
        self, apps: AppRegistry, issuer: TestIssuer, managed: ManagedIdentityEndpoints
    ) -> None:
        self._apps = apps
        self._issuer = issuer
        self._managed = managed

    def handle(  # noqa: C901, PLR0911, PLR0912 - one case per route
        self, request: HttpRequest, path: tuple[str, ...], body: JsonObject
    ) -> HttpResponse:
        """The response for `path` (below `/_emulator/`); raises ApiError."""
        match request.method, path:
            case ("GET", ("apps",)):
                return HttpResponse.json(200, {"value": [app.to_json() for app in self._apps]})
            case ("GET", ("apps", client_id)):
                return HttpResponse.json(200, self._app(client_id).to_json())
            case ("POST", ("apps", client_id, "certificates")):
                return self._add_certificate(self._app(client_id), body)
            case ("DELETE", ("apps", client_id, "certificates", thumbprint)):
                if not self._apps.remove_certificate(self._app(client_id).client_id, thumbprint):
                    raise ApiError(404, "ItemNotFound", f"No certificate {thumbprint}.")
                return HttpResponse(204)
            case ("POST", ("apps", client_id, "federated-credentials")):
                return self._add_federated(self._app(client_id), body)
            case ("DELETE", ("apps", client_id, "federated-credentials", name)):
                if not self._apps.remove_federated(self._app(client_id).client_id, name):
                    raise ApiError(404, "ItemNotFound", f"No federated credential {name}.")
                return HttpResponse(204)
            case ("GET", ("managed-identities",)):
                identities = [dataclasses.asdict(i) for i in self._managed.identities]
                return HttpResponse.json(200, {"value": identities})
            case ("GET", ("issuer", ".well-known", "openid-configuration")):
                return HttpResponse.json(200, self._issuer.discovery(request.origin))
            case ("GET", ("issuer", "keys")):
                return HttpResponse.json(200, self._issuer.signer.jwks())
            case ("GET", ("issuer", "token")):
                return self._ci_token(request)
            case ("POST", ("issuer", "token")):
                return self._mint(request, body)
        raise ApiError(404, "NotFound", f"No control endpoint {request.method} {request.raw_path}.")

    def _app(self, client_id: str) -> AppRecord:
        app = self._apps.get(client_id)
        if app is None:
            raise ApiError(404, "ItemNotFound", f"No app {client_id!r}.")
        return app

    def _add_certificate(self, app: AppRecord, body: JsonObject) -> HttpResponse:
        pem = body.get("certificate")
        if not isinstance(pem, str):
            raise _bad("certificate must be a PEM X.509 certificate (a string).")
        try:
            cert = self._apps.add_certificate(app.client_id, pem)
        except ValueError as exc:
            raise _bad(f"certificate: {exc}.") from None
        return HttpResponse.json(201, cert.to_json())

    def _add_federated(self, app: AppRecord, body: JsonObject) -> HttpResponse:
        try:
            credential = FederatedCredential.from_mapping(body, "federated credential")
        except ConfigError as exc:
            raise _bad(str(exc)) from None
        self._apps.add_federated(app.client_id, credential)
        return HttpResponse.json(201, credential.to_json())

    def _ci_token(self, request: HttpRequest) -> HttpResponse:
        """A CI job's request for its OIDC token, as GitHub Actions answers it."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = self._issuer.request_token
        if scheme.lower() != "bearer" or not secrets.compare_digest(given, expected):
            raise ApiError(401, "Unauthorized", "The request token is missing or wrong.")
        token = self._issuer.mint(
            request.origin,
            subject=request.query.get("subject"),
            audience=request.query.get("audience"),
        )
        return HttpResponse.json(200, {"count": 1, "value": token})

    def _mint(self, request: HttpRequest, body: JsonObject) -> HttpResponse:
        """A token of the test issuer, with the subject, audience and lifetime asked."""
        unknown = sorted(set(body) - {"subject", "audience", "expires_in"})
        if unknown:
            raise _bad(f"Unknown field(s): {', '.join(unknown)}.")
        subject, audience = body.get("subject"), body.get("audience")
        expires_in = body.get("expires_in", TOKEN_LIFETIME)
        if not (subject is None or isinstance(subject, str)):
            raise _bad("subject must be a string.")
        if not (audience is None or isinstance(audience, str)):
            raise _bad("audience must be a string.")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise _bad("expires_in must be a whole number of seconds (negative: expired).")
        token = self._issuer.mint(
            request.origin, subject=subject, audience=audience, expires_in=expires_in
        )
        return HttpResponse.json(200, {"count": 1, "value": token})
