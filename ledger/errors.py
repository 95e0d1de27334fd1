"""Error types shared by every vestige stage.

"The evidence is bad" is an :class:`IntegrityError` naming the entry; "the caller
sent bad input" is an :class:`InputError`. Both carry a message meant for a user.
"""

from __future__ import annotations


class VestigeError(Exception):
    """Base of every error whose message is shown to the user as is."""


class InputError(VestigeError):
    """Input that vestige refuses: malformed, oversized or of the wrong type."""


class IntegrityError(VestigeError):
    """The stored evidence fails verification: it may have been modified.

    ``seq`` is the first entry that the failed check could not vouch for.
    """

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"entry {seq}: {reason}")
        self.seq = seq
        self.reason = reason
