"""Triggers: a flow starts when something happens at the service — polls with a cursor.

A poll of a subscription lists a trigger's candidate items (through the call's sender: its
retries, auth, time budget and the pack's rate budgets), tells the new ones from those given
before by the subscription's position in the state store, and answers them in order. The
position advances only once the answer is out. Nothing here is imported by an action's call.

    _poll       one poll: the subscription's lease and position, the events, the settling
    _listing    the candidate items: an action's answer (every page), per parent, push jobs
    _select     which items are new, and the position after them (pure)
    _values     an item's order, identity, conditions and event
    _context    what a poll is given by its call
"""
