"""Operations that take more than one request: long-running operations, pages and files.

Each flow is its own module: imports and the temporary upload location (`_imports`,
`_blob`), dataset refreshes (`_refreshes`), export to file (`_exports`, with the files of
`_files`), the admin scanner (`_scanner`), the activity log (`_activity`) and deployment
pipelines (`_pipelines`). They share emulated time (`_jobs`), their settings (`_settings`)
and their state (`_state`); `_handlers` maps swagger operation ids to their handlers.
"""

from __future__ import annotations

__all__: list[str] = []
