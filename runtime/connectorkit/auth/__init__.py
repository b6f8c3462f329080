"""Connection kinds as httpx auth flows.

OAuth 2.0 (the flow, and the token endpoint protocol under it), Windows authentication, and
the sign-in of a user (``connectorkit auth login``).
"""
