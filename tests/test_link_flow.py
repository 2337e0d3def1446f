"""The link flow through the real web app and the fake X, with no mocks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.ext.asyncio import create_async_engine

from core import errors
from core.clock import utcnow
from core.link_values import Link
from core.links import LinkService
from core.models import IntentStatus, LinkedAccount, LinkIntent
from core.sealing import Sealer, SealingError
from tests.fakes.twitter import FakeTwitter
from tests.support.member_browser import MemberBrowser
from tests.support.postgres import until_a_transaction_waits_for_a_lock
from tweetlink.services import Services

ALICE_DISCORD = 111_111_111_111_111_111
BOB_DISCORD = 222_222_222_222_222_222


@pytest.fixture
async def browser(web_server: str) -> AsyncIterator[MemberBrowser]:
    """A member's browser against our running pages."""
    async with aiohttp.ClientSession() as http:
        yield MemberBrowser(http)


async def link_url(services: Services, discord_user_id: int, name: str = "alice#0") -> str:
    started = await services.links.start(discord_user_id, name)
    return services.settings.link_url(started.intent_id)


async def count_links(services: Services) -> int:
    async with services.sessions() as session:
        return await session.scalar(select(func.count()).select_from(LinkedAccount)) or 0


async def expire_flow(services: Services, discord_user_id: int) -> None:
    async with services.sessions.begin() as session:
        await session.execute(
            update(LinkIntent)
            .where(LinkIntent.discord_user_id == discord_user_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


async def test_whole_flow_links_the_account(services: Services, browser: MemberBrowser) -> None:
    """Start, authorize on X, read the code, confirm: the link is stored."""
    page = await browser.authorize(await link_url(services, ALICE_DISCORD), username="alice")
    assert page.status == 200
    assert "@alice" in page.html
    assert "alice#0" in page.html

    link = await services.links.confirm(ALICE_DISCORD, page.code)

    assert link.screen_name == "alice"
    stored = await services.links.get(ALICE_DISCORD)
    assert stored is not None
    assert stored.twitter_user_id == link.twitter_user_id
    assert stored.healthy


async def test_landing_page_fetched_many_times_changes_nothing(
    services: Services, browser: MemberBrowser
) -> None:
    """Link previews and scanners may GET and HEAD the link freely; the flow still works."""
    url = await link_url(services, ALICE_DISCORD)
    for _ in range(5):
        page = await browser.open(url)
        assert page.status == 200
        assert "Continue to X" in page.html
    async with browser.http.head(url) as response:
        assert response.status == 200

    page = await browser.authorize(url)
    assert (await services.links.confirm(ALICE_DISCORD, page.code)).screen_name == "alice"


async def test_landing_page_escapes_the_discord_name(
    services: Services, browser: MemberBrowser
) -> None:
    """A Discord name is shown as text, never as markup."""
    url = await link_url(services, ALICE_DISCORD, name='<script>alert("x")</script>')
    page = await browser.open(url)
    assert "<script>" not in page.html
    assert "&lt;script&gt;" in page.html


async def test_continue_without_form_token_is_refused(
    services: Services, browser: MemberBrowser, fake_twitter: FakeTwitter
) -> None:
    """A POST without the landing page's CSRF token starts nothing at X."""
    url = await link_url(services, ALICE_DISCORD)
    for data in ({}, {"csrf_token": "forged"}):
        async with browser.http.post(url, data=data, allow_redirects=False) as response:
            assert response.status == 403
            assert "out of date" in await response.text()
    assert ("POST", "/oauth/request_token") not in fake_twitter.requests


async def test_unknown_link_is_gone(web_server: str, browser: MemberBrowser) -> None:
    """An id we never issued gets the expired page, 410."""
    page = await browser.open(f"{web_server}/link/not-a-real-flow")
    assert page.status == 410
    assert "expired or does not exist" in page.html


async def test_expired_link_is_refused_and_cleaned_up(
    services: Services, browser: MemberBrowser
) -> None:
    """A flow past its life is refused (410) and later removed from the database."""
    url = await link_url(services, ALICE_DISCORD)
    await expire_flow(services, ALICE_DISCORD)

    assert (await browser.open(url)).status == 410
    assert await services.links.purge_expired() == 1
    async with services.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LinkIntent)) == 0


async def test_expired_code_is_refused(services: Services, browser: MemberBrowser) -> None:
    """A code entered after the flow expired links nothing."""
    page = await browser.authorize(await link_url(services, ALICE_DISCORD))
    await expire_flow(services, ALICE_DISCORD)
    with pytest.raises(errors.CodeExpired):
        await services.links.confirm(ALICE_DISCORD, page.code)
    assert await count_links(services) == 0


async def test_finished_link_is_gone(services: Services, browser: MemberBrowser) -> None:
    """After linking, the landing page says the link is finished (410)."""
    url = await link_url(services, ALICE_DISCORD)
    page = await browser.authorize(url)
    await services.links.confirm(ALICE_DISCORD, page.code)

    again = await browser.open(url)
    assert again.status == 410
    assert "already complete" in again.html


async def test_an_authorized_flow_says_where_its_code_goes(
    services: Services, browser: MemberBrowser
) -> None:
    """Back on the landing page after X: the code the page showed is to be entered in Discord."""
    url = await link_url(services, ALICE_DISCORD)
    await browser.authorize(url)
    again = await browser.open(url)
    assert again.status == 410
    assert "enter the code it showed in Discord" in again.html


async def test_the_access_log_keeps_only_a_prefix_of_link_ids(
    services: Services, browser: MemberBrowser, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole link id in the log would be a working link to someone's flow."""
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    url = await link_url(services, ALICE_DISCORD)
    assert (await browser.open(url)).status == 200
    intent_id = url.rsplit("/", 1)[1]
    [line] = [record.getMessage() for record in caplog.records if "/link/" in record.getMessage()]
    assert f"/link/{intent_id[:6]}…" in line
    assert intent_id not in line


async def test_callback_with_unknown_token_is_a_bad_request(
    web_server: str, browser: MemberBrowser
) -> None:
    """A callback whose request token matches no flow gets 400."""
    page = await browser.open(f"{web_server}/oauth/callback?oauth_token=nope&oauth_verifier=v")
    assert page.status == 400
    assert "does not belong to any link" in page.html


async def test_callback_without_parameters_is_a_bad_request(
    web_server: str, browser: MemberBrowser
) -> None:
    """Opening the callback by hand explains where to start."""
    page = await browser.open(f"{web_server}/oauth/callback")
    assert page.status == 400
    assert "Start from the link" in page.html


async def test_cancel_on_x_links_nothing_and_can_be_retried(
    services: Services, browser: MemberBrowser
) -> None:
    """Cancel on X shows 'nothing was linked'; the same link can still be used."""
    url = await link_url(services, ALICE_DISCORD)
    authorize_url = await browser.press_continue(url)
    callback = await browser.decide_on_x(authorize_url, username="alice", action="cancel")
    assert "denied=" in callback

    page = await browser.open(callback)
    assert page.status == 200
    assert "Nothing was linked" in page.html
    assert await count_links(services) == 0

    retry = await browser.authorize(url)
    assert (await services.links.confirm(ALICE_DISCORD, retry.code)).screen_name == "alice"


async def test_x_unavailable_on_continue_is_a_502_with_retry(
    services: Services, browser: MemberBrowser, fake_twitter: FakeTwitter
) -> None:
    """X failing when we ask for a request token gives 502 and a link to try again."""
    url = await link_url(services, ALICE_DISCORD)
    landing = await browser.open(url)
    fake_twitter.unavailable = True
    csrf = landing.html.split('name="csrf_token" value="')[1].split('"')[0]
    async with browser.http.post(url, data={"csrf_token": csrf}) as response:
        assert response.status == 502
        html = await response.text()
    assert "not answering" in html
    assert f'href="/link/{url.rsplit("/", 1)[1]}"' in html

    fake_twitter.unavailable = False
    page = await browser.authorize(url)
    assert page.status == 200


async def test_x_unreachable_on_continue_is_a_502(
    services: Services, browser: MemberBrowser, fake_twitter: FakeTwitter
) -> None:
    """X not answering at all (connection refused) gives 502 too."""
    url = await link_url(services, ALICE_DISCORD)
    await fake_twitter.close()
    landing = await browser.open(url)
    csrf = landing.html.split('name="csrf_token" value="')[1].split('"')[0]
    async with browser.http.post(url, data={"csrf_token": csrf}) as response:
        assert response.status == 502
        assert "could not be reached" in await response.text()


async def test_x_failing_on_callback_is_a_502_with_retry(
    services: Services, browser: MemberBrowser, fake_twitter: FakeTwitter
) -> None:
    """X failing during the verifier exchange gives 502; starting again from the link works."""
    url = await link_url(services, ALICE_DISCORD)
    authorize_url = await browser.press_continue(url)
    callback = await browser.decide_on_x(authorize_url, username="alice", action="authorize")
    fake_twitter.unavailable = True
    page = await browser.open(callback)
    assert page.status == 502
    assert f'href="/link/{url.rsplit("/", 1)[1]}"' in page.html

    fake_twitter.unavailable = False
    retry = await browser.authorize(url)
    assert (await services.links.confirm(ALICE_DISCORD, retry.code)).screen_name == "alice"


async def test_read_only_token_is_explained(
    services: Services, browser: MemberBrowser, fake_twitter: FakeTwitter
) -> None:
    """A token without write access is refused with an explanation of Read and Write."""
    fake_twitter.granted_access_level = "read"
    page = await browser.authorize(await link_url(services, ALICE_DISCORD))
    assert page.status == 403
    assert "Read and write" in page.html
    with pytest.raises(errors.NoPendingLink):
        await services.links.confirm(ALICE_DISCORD, "123456")


async def test_reloading_the_callback_shows_the_same_code(
    services: Services, browser: MemberBrowser
) -> None:
    """The same callback URL shows the same code; after linking, the outcome."""
    url = await link_url(services, ALICE_DISCORD)
    authorize_url = await browser.press_continue(url)
    callback = await browser.decide_on_x(authorize_url, username="alice", action="authorize")
    first = await browser.open(callback)
    second = await browser.open(callback)
    assert second.status == 200
    assert second.code == first.code

    await services.links.confirm(ALICE_DISCORD, first.code)
    after = await browser.open(callback)
    assert after.status == 200
    assert "Linked as @alice" in after.html


async def test_callback_with_another_verifier_shows_no_code(
    services: Services, browser: MemberBrowser
) -> None:
    """Someone replaying the callback with a guessed verifier does not see the code."""
    url = await link_url(services, ALICE_DISCORD)
    authorize_url = await browser.press_continue(url)
    callback = await browser.decide_on_x(authorize_url, username="alice", action="authorize")
    first = await browser.open(callback)
    forged = callback.split("oauth_verifier=")[0] + "oauth_verifier=guessed"
    replay = await browser.open(forged)
    assert replay.status == 410
    assert first.code not in replay.html


async def test_concurrent_callbacks_issue_one_code(
    services: Services, browser: MemberBrowser, fake_twitter: FakeTwitter
) -> None:
    """Two tabs finishing the same callback at once make one exchange at X and see one and the
    same code: the second waits for the first's outcome."""
    url = await link_url(services, ALICE_DISCORD)
    authorize_url = await browser.press_continue(url)
    callback = await browser.decide_on_x(authorize_url, username="alice", action="authorize")
    pages = await asyncio.gather(*(browser.open(callback) for _ in range(5)))
    assert [page.status for page in pages] == [200] * 5
    assert len({page.code for page in pages}) == 1
    assert fake_twitter.requests.count(("POST", "/oauth/access_token")) == 1


async def test_replayed_confirm_links_once(services: Services, browser: MemberBrowser) -> None:
    """A second confirm with the same code is told the link is complete."""
    page = await browser.authorize(await link_url(services, ALICE_DISCORD))
    await services.links.confirm(ALICE_DISCORD, page.code)
    with pytest.raises(errors.IntentFinished):
        await services.links.confirm(ALICE_DISCORD, page.code)
    assert await count_links(services) == 1


async def test_twenty_concurrent_confirms_give_one_link(
    services: Services, browser: MemberBrowser
) -> None:
    """Twenty confirms of one flow at once: exactly one succeeds."""
    page = await browser.authorize(await link_url(services, ALICE_DISCORD))
    results = await asyncio.gather(
        *(services.links.confirm(ALICE_DISCORD, page.code) for _ in range(20)),
        return_exceptions=True,
    )
    successes = [result for result in results if not isinstance(result, BaseException)]
    failures = [result for result in results if isinstance(result, BaseException)]
    assert len(successes) == 1
    assert all(isinstance(failure, errors.LinkError) for failure in failures), failures
    assert await count_links(services) == 1


async def test_wrong_codes_void_the_flow(services: Services, browser: MemberBrowser) -> None:
    """Wrong codes count down; the last one voids the flow, and then the right code fails too."""
    page = await browser.authorize(await link_url(services, ALICE_DISCORD))
    wrong = f"{(int(page.code) + 1) % 1_000_000:06d}"
    attempts = services.settings.confirmation_code_attempts
    for left in range(attempts - 1, 0, -1):
        with pytest.raises(errors.WrongCode) as raised:
            await services.links.confirm(ALICE_DISCORD, wrong)
        assert raised.value.attempts_left == left
    with pytest.raises(errors.TooManyAttempts):
        await services.links.confirm(ALICE_DISCORD, wrong)
    with pytest.raises(errors.TooManyAttempts):
        await services.links.confirm(ALICE_DISCORD, page.code)
    assert await count_links(services) == 0
    async with services.sessions() as session:
        assert await session.scalar(select(LinkIntent.status)) == IntentStatus.VOID


async def test_malformed_code_costs_no_attempt(services: Services, browser: MemberBrowser) -> None:
    """Typing letters or too few digits explains the format and spends no attempt."""
    page = await browser.authorize(await link_url(services, ALICE_DISCORD))
    for typed in ("", "12345", "abcdef", "1234567"):
        with pytest.raises(errors.MalformedCode):
            await services.links.confirm(ALICE_DISCORD, typed)
    assert (await services.links.confirm(ALICE_DISCORD, f" {page.code} ")).screen_name == "alice"


async def test_code_belongs_to_the_discord_user_who_started(
    services: Services, browser: MemberBrowser
) -> None:
    """Another Discord user typing the code links nothing: they started no flow."""
    page = await browser.authorize(await link_url(services, ALICE_DISCORD))
    with pytest.raises(errors.NoPendingLink):
        await services.links.confirm(BOB_DISCORD, page.code)
    assert await count_links(services) == 0


async def test_an_x_account_moves_to_the_discord_user_who_proves_it(
    services: Services, browser: MemberBrowser
) -> None:
    """Linking an X account held by another Discord user moves it; never two holders."""
    first = await browser.authorize(await link_url(services, ALICE_DISCORD), username="shared")
    await services.links.confirm(ALICE_DISCORD, first.code)
    second = await browser.authorize(await link_url(services, BOB_DISCORD), username="shared")
    confirmed = await services.links.confirm(BOB_DISCORD, second.code)
    assert confirmed.moved_from == ALICE_DISCORD
    [moved] = await services.audit.recent(target_id=ALICE_DISCORD)
    assert (moved.action, moved.actor_id) == ("move", BOB_DISCORD)

    assert await services.links.get(ALICE_DISCORD) is None
    moved = await services.links.get(BOB_DISCORD)
    assert moved is not None
    assert moved.screen_name == "shared"
    assert await count_links(services) == 1


async def test_concurrent_links_of_one_x_account_leave_one_holder(
    services: Services, browser: MemberBrowser
) -> None:
    """Two Discord users confirming the same X account at once: one holder at the end."""
    alice = await browser.authorize(await link_url(services, ALICE_DISCORD), username="shared")
    bob = await browser.authorize(await link_url(services, BOB_DISCORD), username="shared")
    await asyncio.gather(
        services.links.confirm(ALICE_DISCORD, alice.code),
        services.links.confirm(BOB_DISCORD, bob.code),
    )
    assert await count_links(services) == 1


async def test_relinking_another_account_revokes_the_old_token(
    services: Services, browser: MemberBrowser, fake_twitter: FakeTwitter
) -> None:
    """Replacing one's link with another X account revokes the old token at X."""
    first = await browser.authorize(await link_url(services, ALICE_DISCORD), username="alice")
    await services.links.confirm(ALICE_DISCORD, first.code)
    second = await browser.authorize(await link_url(services, ALICE_DISCORD), username="alice2")
    await services.links.confirm(ALICE_DISCORD, second.code)

    link = await services.links.get(ALICE_DISCORD)
    assert link is not None
    assert link.screen_name == "alice2"
    assert len(fake_twitter.invalidated_tokens) == 1


async def test_new_flow_replaces_the_pending_one(
    services: Services, browser: MemberBrowser
) -> None:
    """Starting again makes the earlier link URL stop working."""
    old = await link_url(services, ALICE_DISCORD)
    new = await link_url(services, ALICE_DISCORD)
    assert (await browser.open(old)).status == 410
    assert (await browser.open(new)).status == 200


async def test_two_starts_at_once_leave_one_flow(
    services: Services, browser: MemberBrowser
) -> None:
    """Two /link-twitter at the same moment: one replaces the other (on PostgreSQL the second
    insert meets the first's unique key and runs again), so one link works."""
    urls = await asyncio.gather(*(link_url(services, ALICE_DISCORD) for _ in range(2)))
    statuses = sorted([(await browser.open(url)).status for url in urls])
    assert statuses == [200, 410]
    async with services.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LinkIntent)) == 1


async def test_a_code_sealed_under_a_removed_key_fails_its_confirm_alone(
    services: Services, browser: MemberBrowser
) -> None:
    """The key that sealed one member's code was taken out of TOKEN_ENCRYPTION_KEYS: that confirm
    fails, and another member's confirm at the same moment still links."""
    alice_page = await browser.authorize(await link_url(services, ALICE_DISCORD))
    bob_page = await browser.authorize(await link_url(services, BOB_DISCORD), username="bob")
    rotated = Sealer([Sealer.generate_key()])
    async with services.sessions.begin() as session:  # Bob's flow began after the rotation
        await session.execute(
            update(LinkIntent)
            .where(LinkIntent.discord_user_id == BOB_DISCORD)
            .values(code_sealed=rotated.seal(bob_page.code))
        )
    settings = services.settings
    links = LinkService(
        services.sessions,
        rotated,
        services.twitter,
        callback_url=settings.callback_url,
        intent_ttl=timedelta(seconds=settings.link_intent_ttl_seconds),
        code_ttl=timedelta(seconds=settings.confirmation_code_ttl_seconds),
        code_attempts=settings.confirmation_code_attempts,
    )
    alice, bob = await asyncio.gather(
        links.confirm(ALICE_DISCORD, alice_page.code),
        links.confirm(BOB_DISCORD, bob_page.code),
        return_exceptions=True,
    )
    assert isinstance(alice, SealingError)
    assert isinstance(bob, Link)
    assert bob.screen_name == "bob"


async def test_a_flow_stored_meanwhile_by_another_process_is_replaced(
    services: Services, browser: MemberBrowser, database_url: str
) -> None:
    """Another process starts a flow for the same member while ours is being stored: ours meets
    its row when that process commits, runs again, and replaces it."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite lets one transaction write at a time: nothing can insert meanwhile")
    other_process = create_async_engine(database_url)
    try:
        async with other_process.begin() as holder:
            await holder.execute(insert(LinkIntent).values(**intent_values(ALICE_DISCORD)))
            starting = asyncio.ensure_future(link_url(services, ALICE_DISCORD))
            await until_a_transaction_waits_for_a_lock(holder)
        url = await starting
    finally:
        await other_process.dispose()
    assert (await browser.open(url)).status == 200
    async with services.sessions() as session:
        assert await session.scalar(select(LinkIntent.id)) == url.rsplit("/", 1)[1]


async def test_a_link_stored_meanwhile_by_another_process_moves_here(
    services: Services, browser: MemberBrowser, database_url: str
) -> None:
    """Another process links the same X account while our confirm is being stored: ours meets
    that link when it commits, runs again, and moves it here."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite lets one transaction write at a time: nothing can insert meanwhile")
    page = await browser.authorize(await link_url(services, BOB_DISCORD), username="shared")
    async with services.sessions() as session:
        shared_id = await session.scalar(select(LinkIntent.twitter_user_id))
    other_process = create_async_engine(database_url)
    try:
        async with other_process.begin() as holder:
            await holder.execute(
                insert(LinkedAccount).values(
                    discord_user_id=ALICE_DISCORD,
                    twitter_user_id=shared_id,
                    screen_name="shared",
                    access_token_sealed=services.sealer.seal("alice-token"),
                    access_token_secret_sealed=services.sealer.seal("alice-secret"),
                    access_level="read-write",
                    linked_at=utcnow(),
                )
            )
            confirming = asyncio.ensure_future(services.links.confirm(BOB_DISCORD, page.code))
            await until_a_transaction_waits_for_a_lock(holder)
        link = await confirming
    finally:
        await other_process.dispose()
    assert (link.discord_user_id, link.screen_name) == (BOB_DISCORD, "shared")
    assert await services.links.get(ALICE_DISCORD) is None
    assert await count_links(services) == 1


def intent_values(discord_user_id: int) -> dict[str, object]:
    now = utcnow()
    return {
        "id": f"elsewhere-{discord_user_id}",
        "discord_user_id": discord_user_id,
        "discord_name": "elsewhere#0",
        "status": IntentStatus.CREATED,
        "csrf_token": "elsewhere-csrf",
        "created_at": now,
        "expires_at": now + timedelta(minutes=10),
        "code_attempts": 0,
    }


async def test_unlink_revokes_at_x_and_deletes_here(
    services: Services, browser: MemberBrowser, fake_twitter: FakeTwitter
) -> None:
    """Unlink revokes the token at X and removes the link."""
    page = await browser.authorize(await link_url(services, ALICE_DISCORD))
    await services.links.confirm(ALICE_DISCORD, page.code)

    unlinked = await services.links.unlink(ALICE_DISCORD)

    assert unlinked.revoked_at_twitter
    assert len(fake_twitter.invalidated_tokens) == 1
    assert await services.links.get(ALICE_DISCORD) is None
    with pytest.raises(errors.NotLinked):
        await services.links.unlink(ALICE_DISCORD)


async def test_unlink_when_x_is_down_still_deletes_here(
    services: Services, browser: MemberBrowser, fake_twitter: FakeTwitter
) -> None:
    """With X unavailable the link is deleted here and the caller is told it was not revoked."""
    page = await browser.authorize(await link_url(services, ALICE_DISCORD))
    await services.links.confirm(ALICE_DISCORD, page.code)
    fake_twitter.unavailable = True

    unlinked = await services.links.unlink(ALICE_DISCORD)

    assert not unlinked.revoked_at_twitter
    assert await services.links.get(ALICE_DISCORD) is None


async def test_healthz_answers(web_server: str, browser: MemberBrowser) -> None:
    """/healthz says ok while the database answers."""
    async with browser.http.get(f"{web_server}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_pages_carry_safe_headers(services: Services, browser: MemberBrowser) -> None:
    """Pages forbid scripts, framing, caching and referrers."""
    async with browser.http.get(await link_url(services, ALICE_DISCORD)) as response:
        headers = response.headers
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "script-src" not in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"


async def test_work_left_open_on_a_returned_connection_is_rolled_back(services: Services) -> None:
    """A connection comes back from a transaction SQLAlchemy did not start: it is rolled back."""
    url = await link_url(services, ALICE_DISCORD)
    intent_id = url.rsplit("/", 1)[1]

    def delete_behind_sqlalchemys_back(connection: Connection) -> None:
        cursor = connection.connection.dbapi_connection.cursor()
        cursor.execute("BEGIN")
        cursor.execute("DELETE FROM link_intents")
        cursor.close()

    async with services.engine.connect() as connection:
        await connection.run_sync(delete_behind_sqlalchemys_back)

    assert (await services.links.landing(intent_id)).intent_id == intent_id


async def test_unknown_pages_and_methods_get_plain_pages(
    web_server: str, browser: MemberBrowser
) -> None:
    """A wrong address is a 404 page; a wrong method on a real page is a 405 page, no trace."""
    missing = await browser.open(f"{web_server}/nothing-here")
    assert missing.status == 404
    assert "There is nothing at this address." in missing.html
    async with browser.http.put(f"{web_server}/link/some-flow") as response:
        assert response.status == 405
        page = await response.text()
    assert "cannot be used that way" in page
    assert "Traceback" not in page
