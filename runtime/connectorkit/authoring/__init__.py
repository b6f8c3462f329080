"""What a pack author and a workflow designer use.

The catalog (``describe``, ``docs``), the examples runner, the conformance checks,
scaffolding and the OpenAPI importer.
"""
