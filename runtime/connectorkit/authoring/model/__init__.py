"""The pack documents as pydantic models, and the published JSON Schemas generated from them.

Every document of a pack is modelled: ``connector.yaml`` (``_connector``), ``actions/*.yaml``
(``_action``), ``connections/*.yaml`` (``_connection``), ``triggers/*.yaml`` (``_trigger``), and
the input definitions they share (``_input``). Each file of ``schemas/`` but the request and
response envelopes' is generated from them (``_publish``). Only authoring code and the tests
import this package: ``validate`` checks files against the generated JSON Schemas, and
``invoke`` never loads pydantic.

Regenerate the published files with ``python -m connectorkit.authoring.model``.
"""
