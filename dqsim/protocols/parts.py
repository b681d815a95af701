"""Protocol parts: sub-protocols whose state is in their attributes, so that a checkpoint can save them.

A *part* is one sub-protocol run by one node (an elementary pair's end,
teleportation, a TeleGate side). It is an object with

* ``start(ctx) -> bool``: what the part does before its first ``yield``
  (messages, gates); ``True`` when it is already finished (no ``yield``);
* ``command(ctx)``: the engine command of the ``yield`` it stands at; no
  effect, so a process restored from a checkpoint can call it again to get
  back to that ``yield`` (:class:`dqsim.engine.process.ResumableProcess`);
* ``advance(ctx, value) -> bool``: what it does with the value the engine
  resumed it with, up to its next ``yield``; ``True`` when it has finished;
* ``result``: what it returns once finished (``None`` before).

A resumable process holds its part in an attribute and is pickled with it
(the part's classes must be in the checkpoint allow-list,
:data:`dqsim.engine.checkpoint.ALLOWED_GLOBALS`); a generator runs it with
``result = yield from drive(ctx, part)``, the same commands and effects in
the same order.
"""

from __future__ import annotations


def drive(ctx, part):
    """Run ``part`` in a generator process: ``result = yield from drive(ctx, part)`` (yields engine commands).

    Returns:
        ``part.result`` once the part has finished.
    """
    done = part.start(ctx)
    while not done:
        value = yield part.command(ctx)
        done = part.advance(ctx, value)
    return part.result
