"""Policy, blocks, audit and usage in core, on every database."""

from __future__ import annotations

import pytest

from core.audit import Actor, AuditLog
from core.policy import Policy, PolicyService
from core.usage import Prices, UsageService
from tests.support.ledger import seed_ledger
from tweetlink.services import Services

GUILD, OTHER_GUILD = 900_000_000_000_000_001, 900_000_000_000_000_002
MANAGER, MEMBER = 910_000_000_000_000_001, 910_000_000_000_000_002


async def test_cost_follows_the_price_settings(services: Services) -> None:
    """Posts with a URL are priced apart; other prices give other totals."""
    await seed_ledger(services, GUILD, OTHER_GUILD)
    cheap = UsageService(services.sessions, Prices(per_post=0.01, per_post_with_url=0.10))
    day, week, month = await cheap.usage(guild_id=GUILD)
    assert (day.posts, day.posts_with_url, day.cost_usd) == (3, 1, pytest.approx(0.12))
    assert (week.posts, week.posts_with_url, week.cost_usd) == (4, 2, pytest.approx(0.22))
    assert (month.posts, month.posts_with_url, month.cost_usd) == (5, 2, pytest.approx(0.23))
    everywhere = await cheap.usage()
    assert everywhere[0].posts == 4


async def test_policy_defaults_changes_and_audit(services: Services) -> None:
    """A server without a row has the defaults; changes stick and each one is audited."""
    policy = PolicyService(services.sessions)
    assert await policy.get(GUILD) == Policy()
    await policy.update(Actor(MANAGER), GUILD, tweeting_enabled=False, daily_cap=3)
    changed = await policy.update(Actor(MANAGER), GUILD, daily_cap=None)
    assert changed == Policy(tweeting_enabled=False)
    assert await policy.get(GUILD) == changed
    assert await policy.get(OTHER_GUILD) == Policy()
    entries = await AuditLog(services.sessions).recent(guild_id=GUILD)
    assert [entry.reason for entry in entries] == [
        "daily_cap=None",
        "daily_cap=3, tweeting_enabled=False",
    ]
    with pytest.raises(ValueError, match="unknown policy fields"):
        await policy.update(Actor(MANAGER), GUILD, owner="me")


async def test_blocks_are_per_server_idempotent_and_audited(services: Services) -> None:
    """Blocking twice or unblocking the unblocked changes nothing and audits nothing more."""
    policy = PolicyService(services.sessions)
    assert await policy.block(Actor(MANAGER), GUILD, MEMBER, "spam")
    assert not await policy.block(Actor(MANAGER), GUILD, MEMBER, "again")
    assert await policy.is_blocked(GUILD, MEMBER)
    assert not await policy.is_blocked(OTHER_GUILD, MEMBER)
    assert await policy.unblock(Actor(MANAGER), GUILD, MEMBER)
    assert not await policy.unblock(Actor(MANAGER), GUILD, MEMBER)
    entries = await AuditLog(services.sessions).recent(target_id=MEMBER)
    assert [(e.action, e.reason) for e in entries] == [("unblock", None), ("block", "spam")]
