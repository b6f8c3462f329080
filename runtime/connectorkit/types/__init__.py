"""The one type system: an input definition compiled into the validator everyone uses.

Binding, the pack checker, ``describe``'s JSON Schema and the row checks of a bulk push all
come from the same compiled definition, so they cannot disagree.
"""
