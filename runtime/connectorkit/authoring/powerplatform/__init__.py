"""Power Platform custom connectors in and out.

A connector folder (``apiDefinition.swagger.json`` + ``apiProperties.json``) becomes a pack, and a
pack becomes such a folder again.
"""
