"""The survey at work: who is asked (a completed request its `surveys:` policy matches), the
signed link, and every way an answer comes in (the survey page, the chat widget's rating, a
reply that is only a digit by email or a messenger); each answer goes through one script call
(queues/feedback.py) that keeps the first and moves the customer on or off low_satisfaction."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping

from frontdesk.channels.base import TOKEN_REF, Inbound, Receipt
from frontdesk.queues.customers import addresses
from frontdesk.queues.errors import AlreadyAnswered, QueueError, SurveyClosed
from frontdesk.queues.feedback import Scoring
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore, RequestRecord
from frontdesk.router.feedback.config import SCORE, SurveySettings
from frontdesk.router.feedback.survey import check_token, lone_score, survey_path, survey_token
from frontdesk.router.intake.rules import CustomerLists

log = logging.getLogger("frontdesk.surveys")


class Surveys:
    """One daemon's surveys; its settings and care lists read as they are now."""

    def __init__(
        self,
        store: QueueStore,
        secret: Callable[[], bytes],
        settings: Callable[[], SurveySettings],
        lists: Callable[[], CustomerLists],
    ) -> None:
        self.store, self._secret, self._settings, self._lists = store, secret, settings, lists

    @property
    def settings(self) -> SurveySettings:
        return self._settings()

    def path(self, request_id: str) -> str:
        """The survey page's path with its token (the status base URL goes before it)."""
        return survey_path(request_id, survey_token(self._secret(), request_id))

    def valid(self, request_id: str, token: str) -> bool:
        return check_token(self._secret(), request_id, token)

    def wants(self, record: RequestRecord) -> bool:
        """Is this completed request asked how it went? Never a robot's (an auto-reply)."""
        request = record.request
        if record.state is not State.COMPLETED or request.attributes.get("auto_submitted") not in (
            None, "no",
        ):  # fmt: skip
            return False
        return self.settings.wants(request, self._lists().lookup(request.customer))

    def dimensions_for(self, record: RequestRecord) -> tuple[str, ...] | None:
        """What the chat widget asks of a completed chat; None when it is not asked (or was
        answered)."""
        if record.feedback is not None or not self.wants(record):
            return None
        return self.settings.dimensions

    async def opened(self, record: RequestRecord) -> None:
        """The survey went out: a bare digit from the customer answers it, for the answer time.
        It went to the address as typed, claimed or not: whoever reads that mailbox answers."""
        customer = record.request.customer
        found = addresses(dataclasses.replace(customer, claimed=()))
        await self.store.feedback.open_for(found, record.request.id, self.settings.accept_for_s)

    async def answer(
        self, request_id: str, score: int, dimensions: Mapping[str, int], comment: str, via: str
    ) -> str:
        """Record an answer (AlreadyAnswered, SurveyClosed, WrongState, RequestNotFound)."""
        s = self.settings
        record = await self.store.get(request_id)
        customer = record.request.customer.id if record is not None else None
        scoring = Scoring(s.accept_for_s, s.low_at_most, s.low_for_s, s.good_at_least)
        entry = (f"id:{customer}", customer) if customer else None
        dims = {k: v for k, v in dimensions.items() if k != SCORE} | {SCORE: score}
        moved = await self.store.feedback.answer(
            request_id, score, dims, comment, via, scoring, entry
        )
        log.info("survey of %s answered by %s: %d%s", request_id, via, score,
                 f" (customer {'on' if moved == 'on' else 'off'} low_satisfaction)"
                 if moved else "")  # fmt: skip
        return moved

    async def reply(self, inbound: Inbound) -> Receipt | None:
        """Front's hook: a message that is only a score, from a customer with a survey open (or
        threaded onto the surveyed request), answers it; anything else is None (a message)."""
        if not self.settings.enabled or inbound.auto_submitted:
            return None
        request = inbound.request
        score = lone_score(request.body) if not request.attachments else None
        if score is None:
            return None
        refs = [r.removeprefix(TOKEN_REF) for r in inbound.thread_refs if r.startswith(TOKEN_REF)]
        target = refs[0] if refs else None
        if target is None:
            target = await self.store.feedback.open_survey(addresses(request.customer))
        if target is None:
            return None
        via = request.channel.value
        try:
            await self.answer(target, score, {}, "", via)
        except (AlreadyAnswered, SurveyClosed) as exc:
            log.info("a bare %d from the customer of %s kept as nothing: %s", score, target,
                     type(exc).__name__)  # fmt: skip
        except QueueError:
            return None  # not a completed request: a message like any other
        return Receipt(target, request.customer.id or "", False, False, "", answered=True)
