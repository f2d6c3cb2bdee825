"""The return lifecycle (issue 5): a pure state machine per return and what drives it.

``model`` (states, the case of one return, commands' results), ``machine`` (the rules:
new versions, notifications, views, decisions, payments, disputes, the timer), ``diff``
(amendments), ``disputes`` (respond-by dates, the undisputed part), ``schedule``
(reminders, overdue, next timer date), ``gateway`` (the payment-gateway port and the stub
provider), ``reconciler`` (runs gateway calls and settles every pending payment),
``services`` (what the bot and the portal call). Only ``services``/``publisher`` talk to
Kafka; persistence is ``storage.lifecycle``; the file clock of compressed seasons is
``core.clock``, the season simulation ``devtools.simulation``. See docs/lifecycle.md.
"""
