"""One call: a bound action's requests sent, its result shaped.

Requests rendered and sent with retries, auth and rate budgets; connections named by their
stored name resolved from the state store.
"""
