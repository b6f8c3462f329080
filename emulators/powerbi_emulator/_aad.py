"""Errors of the emulated identity platform, with Microsoft's AADSTS codes and wording."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from powerbi_emulator._http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from powerbi_emulator._clock import EmulatorClock
    from powerbi_emulator._identity import ScopeError

__all__ = ["NO_STORE", "LoginError", "fail", "scope_failure"]

NO_STORE = [("cache-control", "no-store, no-cache"), ("pragma", "no-cache")]

# name: (HTTP status, OAuth error, AADSTS number, description template)
_CATALOG: dict[str, tuple[int, str, int, str]] = {
    "missing_parameter": (
        400, "invalid_request", 900144,
        "The request body must contain the following parameter: '{0}'.",
    ),
    "wrong_method": (
        400, "invalid_request", 900561,
        "The endpoint only accepts {0} requests. Received a {1} request.",
    ),
    "form_required": (
        400, "invalid_request", 900144,
        ("The request body must contain the following parameter: 'grant_type'. "
         "The body must be application/x-www-form-urlencoded."),
    ),
    "malformed_body": (400, "invalid_request", 90014, "{0}"),
    # Posing as one cloud, a token for another cloud's Power BI resource: not in this tenant.
    "resource_not_in_tenant": (
        400, "invalid_resource", 500011,
        ("The resource principal named {0} was not found in the tenant named {1}. This can "
         "happen if the application has not been installed by the administrator of the tenant "
         "or consented to by any user in the tenant. You might have sent your authentication "
         "request to the wrong tenant."),
    ),
    "tenant_not_found": (
        400, "invalid_tenant", 90002,
        ("Tenant '{0}' not found. Check to make sure you have the correct tenant ID and are "
         "signing into the correct cloud."),
    ),
    "no_reply_address": (400, "invalid_request", 900971, "No reply address provided."),
    "bad_reply_address": (
        400, "invalid_request", 90102,
        "'redirect_uri' value must be a valid absolute URI without a fragment, got '{0}'.",
    ),
    "reply_address_not_registered": (
        400, "invalid_request", 50011,
        ("The redirect URI '{0}' specified in the request does not match the redirect URIs "
         "configured for the application '{1}'."),
    ),
    "unsupported_response_type": (
        400, "unsupported_response_type", 70005,
        "response_type '{0}' is not enabled for the application; only 'code' is supported.",
    ),
    "unsupported_response_mode": (
        400, "invalid_request", 90011,
        "response_mode '{0}' is not supported by the emulator; use 'query'.",
    ),
    "pkce_required": (
        400, "invalid_request", 9002325,
        "Proof Key for Code Exchange is required for public clients.",
    ),
    "bad_challenge_method": (
        400, "invalid_request", 5001481,
        "Unsupported code_challenge_method '{0}'; use S256 or plain.",
    ),
    "bad_challenge": (
        400, "invalid_request", 501491, "Invalid size of Code_Challenge parameter."
    ),
    "two_client_auth_methods": (
        400, "invalid_request", 90014,
        ("Only one client authentication method may be used: HTTP Basic or client_secret in "
         "the body, not both."),
    ),
    "client_id_mismatch": (
        400, "invalid_request", 90014,
        "The client_id in the body does not match the HTTP Basic credentials.",
    ),
    "unknown_client": (
        400, "unauthorized_client", 700016,
        "Application with identifier '{0}' was not found in the directory '{1}'.",
    ),
    "public_client_secret": (
        401, "invalid_client", 700025,
        ("Client is public so neither 'client_assertion' nor 'client_secret' should be "
         "presented."),
    ),
    "missing_secret": (
        401, "invalid_client", 7000218,
        ("The request body must contain the following parameter: 'client_assertion' or "
         "'client_secret'."),
    ),
    "secret_and_assertion": (
        400, "invalid_request", 90014,
        ("Only one client authentication method may be used: a client_secret or a "
         "client_assertion, not both."),
    ),
    "bad_secret": (
        401, "invalid_client", 7000215,
        ("Invalid client secret provided. Ensure the secret being sent in the request is the "
         "client secret value, not the client secret ID, for a secret added to app '{0}'."),
    ),
    "bad_assertion_type": (
        400, "invalid_request", 90014,
        ("The 'client_assertion_type' must be "
         "'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', got '{0}'."),
    ),
    "malformed_assertion": (
        400, "invalid_request", 50027, "JWT token is invalid or malformed: {0}",
    ),
    "assertion_app_mismatch": (
        401, "invalid_client", 700021,
        ("Client assertion application identifier doesn't match 'client_id' parameter: the "
         "assertion's iss and sub must both be '{0}'."),
    ),
    "assertion_audience": (
        401, "invalid_client", 700023,
        ("Client assertion audience claim does not match Realm issuer: aud '{0}' is not this "
         "tenant's token endpoint ({1})."),
    ),
    "assertion_time": (
        401, "invalid_client", 700024,
        ("Client assertion is not within its valid time range. Current time: {0}, assertion "
         "valid from {1}, expiry time of assertion {2}."),
    ),
    "certificate_not_registered": (
        401, "invalid_client", 700027,
        ("The certificate with identifier used to sign the client assertion is not registered "
         "on application. [Reason - The key was not found., Thumbprint of key used by client: "
         "'{0}', Configured keys for app Id '{1}': {2}.]"),
    ),
    "certificate_expired": (
        401, "invalid_client", 700027,
        ("The certificate with identifier used to sign the client assertion is expired on "
         "application. [Reason - The key used is expired., Thumbprint of key used by client: "
         "'{0}', expired {1}.]"),
    ),
    "assertion_signature": (
        401, "invalid_client", 700027,
        ("Client assertion failed signature validation. [Reason - The key was found but the "
         "signature was not made with it: {0}, Thumbprint of key used by client: '{1}'.]"),
    ),
    "federated_issuer": (
        400, "invalid_request", 700211,
        ("No matching federated identity record found for presented assertion issuer '{0}'. "
         "Please check your federated identity credential Subject, Audience and Issuer "
         "against the presented assertion."),
    ),
    "federated_audience": (
        400, "invalid_request", 700212,
        ("No matching federated identity record found for presented assertion audience '{0}'. "
         "Please check your federated identity credential Subject, Audience and Issuer "
         "against the presented assertion."),
    ),
    "federated_subject": (
        400, "invalid_request", 700213,
        ("No matching federated identity record found for presented assertion subject '{0}'. "
         "Please check your federated identity credential Subject, Audience and Issuer "
         "against the presented assertion."),
    ),
    "federated_entra_token": (
        400, "invalid_request", 700222,
        "AAD-issued tokens may not be used for federated identity flows.",
    ),
    "federated_signature": (
        400, "invalid_request", 5000811,
        ("Unable to verify token signature. The signing key identifier does not match any "
         "valid registered keys of issuer '{0}'."),
    ),
    "federated_time": (
        400, "invalid_request", 700024,
        ("Client assertion is not within its valid time range. Current time: {0}, assertion "
         "valid from {1}, expiry time of assertion {2}."),
    ),
    "external_oidc_failed": (
        400, "invalid_request", 50166,
        "Request to External OIDC endpoint failed: {0}",
    ),
    "bad_basic": (
        401, "invalid_client", 7000215,
        "The HTTP Basic credentials must be the base64 of 'client_id:client_secret'.",
    ),
    "unsupported_grant": (
        400, "unsupported_grant_type", 70003,
        "The app requested an unsupported grant type '{0}'.",
    ),
    "public_client_credentials": (
        400, "unauthorized_client", 700025,
        "A public client cannot use the client credentials grant.",
    ),
    "bad_code": (
        400, "invalid_grant", 9002313,
        ("Invalid request. Request is malformed or invalid: the authorization code is not "
         "valid for this client."),
    ),
    "code_redeemed": (
        400, "invalid_grant", 54005,
        ("OAuth2 Authorization code was already redeemed, please retry with a new valid code "
         "or use an existing refresh token."),
    ),
    "grant_expired": (
        400, "invalid_grant", 70008,
        ("The provided authorization code or refresh token has expired due to inactivity. "
         "Send a new interactive authorization request for this user and resource."),
    ),
    "redirect_mismatch": (
        400, "invalid_grant", 50011,
        ("The redirect URI '{0}' specified in the request does not match the redirect URI "
         "of the authorization request."),
    ),
    "verifier_without_challenge": (
        400, "invalid_grant", 50148,
        "A code_verifier was sent, but the authorization request had no code_challenge.",
    ),
    "bad_verifier": (
        400, "invalid_grant", 50148,
        "The code_verifier must be 43 to 128 characters of [A-Z a-z 0-9 - . _ ~].",
    ),
    "verifier_mismatch": (
        400, "invalid_grant", 50148,
        ("The code_verifier does not match the code_challenge supplied in the authorization "
         "request for PKCE."),
    ),
    "bad_refresh_token": (
        400, "invalid_grant", 9002313,
        ("Invalid request. Request is malformed or invalid: the refresh token is not valid "
         "for this client."),
    ),
    "refresh_token_redeemed": (
        400, "invalid_grant", 70000,
        ("The provided value for the 'refresh_token' is not valid: it was already redeemed. "
         "Refresh tokens rotate; use the one returned with the last token."),
    ),
    "refresh_token_revoked": (
        400, "invalid_grant", 50173,
        ("The provided grant has expired due to it being revoked, a fresh auth token is "
         "needed."),
    ),
    "invalid_instance": (
        400, "invalid_instance", 50049,
        "Unknown or invalid instance: '{0}' is not an authority of this service.",
    ),
    "authorization_pending": (
        400, "authorization_pending", 70016,
        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
    ),
    "device_code_expired": (
        400, "expired_token", 70020,
        ("The provided value for the input parameter 'device_code' is not valid. This device "
         "code has expired."),
    ),
    "bad_device_code": (
        400, "invalid_grant", 70000,
        "The provided value for the input parameter 'device_code' is not valid.",
    ),
}  # fmt: skip


class LoginError(Exception):
    """An identity platform error: status, OAuth error name, AADSTS number, description."""

    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.aadsts, self.description = status, error, aadsts, description

    def response(self, request: HttpRequest, clock: EmulatorClock) -> HttpResponse:
        """The error as Microsoft's token endpoint words it.

        The body has error, error_description (with trace id, correlation id and timestamp),
        error_codes, timestamp, trace_id, correlation_id and error_uri.
        """
        trace_id = str(uuid.uuid4())
        correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        timestamp = clock.aad_timestamp()
        description = (
            f"AADSTS{self.aadsts}: {self.description} Trace ID: {trace_id} "
            f"Correlation ID: {correlation_id} Timestamp: {timestamp}"
        )
        body = {
            "error": self.error,
            "error_description": description,
            "error_codes": [self.aadsts],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{request.origin}/error?code={self.aadsts}",
        }
        return HttpResponse.json(self.status, body, headers=NO_STORE)


def fail(name: str, *args: object) -> LoginError:
    """The catalogued error `name`, its description filled with `args`."""
    status, error, aadsts, template = _CATALOG[name]
    return LoginError(status, error, aadsts, template.format(*args))


def scope_failure(exc: ScopeError) -> LoginError:
    """A scope problem as an error: invalid_request when missing, else invalid_scope."""
    missing = exc.aadsts == _CATALOG["missing_parameter"][2]
    return LoginError(400, "invalid_request" if missing else "invalid_scope", exc.aadsts, str(exc))
