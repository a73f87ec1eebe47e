"""The channel adapter conformance kit: a channel that polls an HTTP source keeps every rule,
and a channel that breaks a rule is caught with that rule named."""

from __future__ import annotations

import pytest

from gateway.testing import (
    CHANNEL_RULES,
    ChannelUnderTest,
    ContractBroken,
    HttpSource,
    channel_contract_tests,
    check_channel_rule,
)
from gateway.testing.rules import rule
from tests.channels import BREAKERS, SourcePoller


@pytest.fixture
def channel_under_test() -> ChannelUnderTest:
    return ChannelUnderTest(factory=SourcePoller, counterpart=HttpSource())


test_source_poller_keeps_the_channel_contract = channel_contract_tests()


@pytest.mark.parametrize(
    ("rule_id", "channel"),
    [(rule_id, channel) for rule_id, channels in BREAKERS.items() for channel in channels],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_a_channel_that_breaks_a_rule_is_caught_with_the_rule_named(
    rule_id: str, channel: type[SourcePoller]
) -> None:
    subject = ChannelUnderTest(factory=channel, counterpart=HttpSource(), slack_s=2.0)
    with pytest.raises(ContractBroken) as caught:
        check_channel_rule(subject, rule(rule_id))
    assert caught.value.rule.id == rule_id, str(caught.value)


def test_every_channel_rule_has_a_breaker() -> None:
    assert set(BREAKERS) == {r.id for r in CHANNEL_RULES}
