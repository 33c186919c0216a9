"""Who is calling, and on whose behalf."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class CallContext:
    owner: str | None
    """The owner the call acts for; None for maintainer commands (not owner-scoped)."""
    actor_id: str
    actor_type: str = "agent"
    """"agent", "maintainer" or "system"."""
    transaction_id: str | None = None
    tool_call_id: str | None = None
    agent_action_id: str | None = None

    def with_ids(
        self,
        *,
        transaction_id: str | None = None,
        tool_call_id: str | None = None,
        agent_action_id: str | None = None,
    ) -> CallContext:
        return replace(
            self,
            transaction_id=transaction_id or self.transaction_id,
            tool_call_id=tool_call_id or self.tool_call_id,
            agent_action_id=agent_action_id or self.agent_action_id,
        )
