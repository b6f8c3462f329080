"""The JSON envelope over stdin/stdout: ``invoke``, ``serve``, exit codes.

The only place that knows about them.
"""
