"""The return state machine's rules, one module per group of events (``lifecycle.machine``
puts them together): ``versions`` (returns.v1, notifications.v1, views), ``decisions``
(decisions.v1 and the registries' answers to disputes), ``payments`` (Pay, settlements),
``timers`` (the daily tick); ``common`` holds the steps they share."""
