"""``connectorkit import-openapi``: action files from an OpenAPI 2 or 3 document.

:func:`~connectorkit.authoring.openapi._import.import_openapi` reads the document, pairs
operations that differ only by an optional prefix the pack declares, names each action in the
pack's style and writes (or updates) one file per action, keeping what an author curated. What
it cannot express is reported, not dropped.
"""
