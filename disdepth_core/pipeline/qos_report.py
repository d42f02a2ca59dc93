"""Readable QoS descriptions for the incompatible-QoS warnings (the most reported silent failure)."""

from __future__ import annotations

from typing import Any


def _name(policy: Any) -> str:
    n = getattr(policy, "name", str(policy)).upper()
    return n.removeprefix("RMW_QOS_POLICY_")


def describe_qos(qos: Any) -> str:
    """``'RELIABLE/VOLATILE'`` style summary of a QoSProfile (reliability/durability)."""
    return f"{_name(qos.reliability)}/{_name(qos.durability)}"


def incompatible_qos_message(topic: str, role: str, ours: Any, theirs: list[str], policy_kind: Any) -> str:
    """One line naming the topic, our QoS, the peers' QoS and the offending policy.

    ``role`` is our side: ``'subscription'`` (peers are publishers) or ``'publisher'``.
    """
    peer = "publisher(s)" if role == "subscription" else "subscriber(s)"
    verb = "requests" if role == "subscription" else "offers"
    theirs_txt = ", ".join(theirs) if theirs else "unknown"
    hint = ""
    if _name(policy_kind) == "RELIABILITY":
        hint = (" (a RELIABLE subscriber never receives from a BEST_EFFORT publisher: set the node's "
                "input.qos / output.qos parameter or the peer's QoS to match)")
    return (f"QoS mismatch on {topic}: our {role} {verb} {describe_qos(ours)}, the {peer} use {theirs_txt}; "
            f"incompatible policy: {_name(policy_kind)}; no messages flow between them{hint}")
