"""The `ChannelContext` the daemon gives its channels: the front door and the stores behind it,
the customer's standing in the queue, the agents' names and the daemon's one follower of the
event stream. It is the only thing of the daemon a channel holds."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from frontdesk.channels.base import Inbound, Rating, Receipt
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.events import Event
from frontdesk.queues.store import QueueStore, RequestRecord
from frontdesk.router.intake.front import Front
from frontdesk.router.outbound.notices.config import NoticeSettings
from frontdesk.router.routing.eta import Standing
from frontdesk.router.routing.fanout import Fanout
from frontdesk.skills import Agent


class DaemonContext:
    """A channel's view of one daemon (see `frontdesk.channels.base.ChannelContext`)."""

    def __init__(
        self,
        front: Front,
        standing: Standing,
        agents: Callable[[], Iterable[Agent]],
        fanout: Fanout,
        rating: Rating | None = None,
        notices: Callable[[], NoticeSettings | None] = lambda: None,
    ) -> None:
        self.front = front
        self.rating = rating
        self.store: QueueStore = front.store
        self.customers: CustomerStore = front.customers
        self._standing = standing
        self._agents = agents  # the configured agents, as the config has them now
        self._fanout = fanout
        self._notices = notices  # the notices as the config has them now

    async def receive(self, inbound: Inbound) -> Receipt:
        return await self.front.receive(inbound)

    async def admit(self, sender: str | None, source: str | None) -> float | None:
        return await self.front.admit(sender, source)

    def status_token(self, subject: str) -> str:
        return self.front.status_token(subject)

    def check_status_token(self, subject: str, token: str) -> bool:
        return self.front.check_status_token(subject, token)

    async def standing(self, record: RequestRecord, *, shared: bool = False) -> dict[str, Any]:
        return await self._standing(record, shared=shared)

    def agent_name(self, agent_id: str) -> str:
        return next((a.name for a in self._agents() if a.id == agent_id), agent_id)

    def notice_on_close(self, record: RequestRecord) -> bool:
        s = self._notices()
        return s is not None and "chat" in s.channels and record.state.value in s.events

    def subscribe(
        self,
        listener: Callable[[Event], None],
        *,
        request: str | None = None,
        agent: str | None = None,
        queue: str | None = None,
    ) -> Callable[[], None]:
        return self._fanout.subscribe(listener, request=request, agent=agent, queue=queue)
