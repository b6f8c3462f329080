"""Packs on disk turned into typed, immutable definitions.

Reading the YAML once, checking it against the JSON Schemas and the rules between files,
caching what was checked, loading definitions that nothing later re-parses.
"""
