"""One module per ``connectorkit`` command, named after it (``-`` becomes ``_``).

A command module defines ``register(registry: Registry) -> None``, which calls
``registry.add(name, summary, handler=…, examples=[…])`` and adds its arguments to the parser it
gets back. Keep the module's top-level imports light: it is imported on every run of its command,
so heavy imports belong inside the handler.
"""
