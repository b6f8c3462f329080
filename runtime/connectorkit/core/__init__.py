"""The ground floor: errors, strict JSON, redaction, templates, the request as data.

Everything here is a leaf: it imports nothing of connectorkit beyond this package.
"""
