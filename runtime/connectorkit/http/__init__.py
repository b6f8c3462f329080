"""One HTTP client for every call, and what bounds a call.

The call's budget and its deadlines, the retry policy, the rate budgets a pack declares, and
the reading of responses as the pack's quirks describe the service.
"""
