"""The local stack: a router and two revisions on one machine (``ethos stack up``).

- :mod:`.state`: the stack file, its processes and ports (pure planning, small I/O).
"""
