"""Work in many batches: the rows of a push.

Rows checked, split into request bodies, pushed a few at a time and kept in a job ledger, so
that a push resumes anywhere.
"""
