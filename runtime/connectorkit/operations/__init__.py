"""Calls that take more than one request: long-running operations, pages, files, uploads.

An action whose pack declares ``long_running``, ``pages``, file inputs or results, ``upload``
or ``chunks`` is carried out here (:class:`~connectorkit.operations._flow.MultistepCall`), on
the call's sender: its retries, auth flow, time budget and rate budgets apply to every request.
Nothing here is imported by a call of one request.

    _flow          one call: first request, then pages, an operation, or chunks of operations
    _chunks        the request and its operation once per slice of a list input
    _paging        a paged call's items, gathered or streamed, and where it stopped
    _upload        a large file through an upload location, in blocks
    _steps         request blocks made into requests (another action's, or their own)
    _polling       one operation polled until it ends, or the call's time does
    _pages         the reusable page walker and its continuation text
    _handles       operation handles in the state store
    _files         files streamed from disk and to disk
    _scope         what a template sees: names and the response at hand
"""
