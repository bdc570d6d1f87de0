"""The official mailchimp-marketing SDK against the Mailchimp sandbox over HTTP, and the Mandrill
webhook calls with their signature checked the way Mandrill documents it.

The SDK is synchronous (requests), so its calls run in threads while the sandbox serves on this
test's event loop. It has no OAuth helpers: the OAuth flow is plain HTTP, as Mailchimp documents.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import hmac
import io
import json
import tarfile
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import mailchimp_marketing
import pytest
from mailchimp_marketing.api_client import ApiClientError
from tests.sandbox.sandbox_server import SECRET_KEY, Receiver, serve

from tickettoken.sandbox.app import create_sandbox_app

T = TypeVar("T")
POOL = ThreadPoolExecutor(max_workers=16)
LIST_BODY = {
    "name": "Season ticket holders",
    "contact": {
        "company": "Venue",
        "address1": "1 Main St",
        "city": "Town",
        "state": "CA",
        "zip": "90000",
        "country": "US",
    },
    "permission_reminder": "You bought a ticket.",
    "campaign_defaults": {
        "from_name": "Venue",
        "from_email": "box@venue.test",
        "subject": "News",
        "language": "en",
    },
    "email_type_option": False,
}


async def run(call: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(POOL, call)


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    async with serve(create_sandbox_app(secret_key=SECRET_KEY)) as url:
        async with httpx.AsyncClient() as http:
            index = (await http.get(f"{url}/")).json()["providers"]
        yield url, index


def sdk(index: dict[str, Any], **config: str) -> Any:
    client = mailchimp_marketing.Client()
    client.set_config(config or {"api_key": index["mailchimp"]["api_key"]})
    client.api_client.host = index["mailchimp"]["api_base_url"]
    return client


def md5(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()  # Mailchimp names members by this MD5


def problem(error: ApiClientError) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.text) if isinstance(error.text, str) else error.text
    return body


async def test_lists_members_upsert_and_pagination(sandbox: tuple[str, dict[str, Any]]) -> None:
    _, index = sandbox
    client = sdk(index)
    assert (await run(client.ping.get))["health_status"] == "Everything's Chimpy!"
    audience = await run(lambda: client.lists.create_list(LIST_BODY))
    list_id = audience["id"]
    email = "Fan.One@Example.com"
    created = await run(
        lambda: client.lists.set_list_member(
            list_id,
            md5(email),
            {
                "email_address": email,
                "status_if_new": "subscribed",
                "merge_fields": {"FNAME": "Fan"},
            },
        )
    )
    assert created["id"] == md5(email) and created["status"] == "subscribed"
    again = await run(
        lambda: client.lists.set_list_member(
            list_id,
            md5(email),
            {
                "email_address": email,
                "status_if_new": "subscribed",
                "merge_fields": {"LNAME": "One"},
            },
        )
    )
    assert again["id"] == created["id"] and again["full_name"] == "Fan One"
    for i in range(6):
        await run(
            lambda i=i: client.lists.add_list_member(  # type: ignore[misc]
                list_id, {"email_address": f"f{i}@example.com", "status": "subscribed"}
            )
        )
    with pytest.raises(ApiClientError) as exists:
        await run(
            lambda: client.lists.add_list_member(
                list_id, {"email_address": "f0@example.com", "status": "subscribed"}
            )
        )
    assert exists.value.status_code == 400 and problem(exists.value)["title"] == "Member Exists"
    page = await run(lambda: client.lists.get_list_members_info(list_id, count=4, offset=4))
    assert page["total_items"] == 7 and len(page["members"]) == 3
    got = await run(lambda: client.lists.get_list_member(list_id, md5(email)))
    assert got["email_address"] == email
    with pytest.raises(ApiClientError) as invalid:
        await run(
            lambda: client.lists.set_list_member(
                list_id,
                md5("x@example.com"),
                {"email_address": "x@example.com", "status_if_new": "bogus"},
            )
        )
    body = problem(invalid.value)
    assert body["status"] == 400 and body["errors"][0]["field"] == "status"
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    patched = await run(
        lambda: client.lists.update_list_member(list_id, md5(email), {"status": "unsubscribed"})
    )
    assert patched["status"] == "unsubscribed"
    await run(lambda: client.lists.delete_list_member(list_id, md5("f5@example.com")))
    with pytest.raises(ApiClientError) as gone:
        await run(lambda: client.lists.get_list_member(list_id, md5("f5@example.com")))
    assert gone.value.status_code == 404
    assert problem(gone.value)["title"] == "Resource Not Found"
    lists = await run(lambda: client.lists.get_all_lists())
    assert lists["total_items"] == 1 and lists["lists"][0]["stats"]["member_count"] == 5
    root = await run(lambda: client.root.get_root())
    assert root["total_subscribers"] == 5 and root["account_id"]


async def test_batch_subscribe_and_batches(sandbox: tuple[str, dict[str, Any]]) -> None:
    url, index = sandbox
    client = sdk(index)
    list_id = (await run(lambda: client.lists.create_list(LIST_BODY)))["id"]
    members = [{"email_address": f"b{i}@example.com", "status": "subscribed"} for i in range(3)]
    first = await run(lambda: client.lists.batch_list_members(list_id, {"members": members}))
    assert first["total_created"] == 3 and first["error_count"] == 0
    members.append({"email_address": "new@example.com", "status": "subscribed"})
    refused = await run(lambda: client.lists.batch_list_members(list_id, {"members": members}))
    assert refused["total_created"] == 1 and refused["error_count"] == 3
    assert refused["errors"][0]["error_code"] == "ERROR_CONTACT_EXISTS"
    members[0]["status"] = "unsubscribed"
    updated = await run(
        lambda: client.lists.batch_list_members(
            list_id, {"members": members, "update_existing": True}
        )
    )
    assert updated["total_updated"] == 4 and updated["error_count"] == 0
    too_many = [{"email_address": f"m{i}@example.com", "status": "subscribed"} for i in range(501)]
    with pytest.raises(ApiClientError) as limit:
        await run(lambda: client.lists.batch_list_members(list_id, {"members": too_many}))
    assert limit.value.status_code == 400

    batch = await run(
        lambda: client.batches.start(
            {
                "operations": [
                    {
                        "method": "PUT",
                        "path": f"/lists/{list_id}/members/{md5('op@example.com')}",
                        "operation_id": "one",
                        "body": json.dumps(
                            {"email_address": "op@example.com", "status_if_new": "subscribed"}
                        ),
                    },
                    {"method": "GET", "path": "/lists/nope", "operation_id": "two"},
                ]
            }
        )
    )
    status = await run(lambda: client.batches.status(batch["id"]))
    assert status["status"] == "finished" and status["errored_operations"] == 1
    assert status["response_body_url"].startswith(f"{url}/mailchimp/")
    async with httpx.AsyncClient() as http:
        archive = (await http.get(status["response_body_url"])).content
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive))) as tar:
        member = tar.getmembers()[0]
        extracted = tar.extractfile(member)
        assert extracted is not None
        answers = json.loads(extracted.read())
    assert [a["status_code"] for a in answers] == [200, 404]


async def test_oauth_flow_metadata_and_bearer_calls(sandbox: tuple[str, dict[str, Any]]) -> None:
    url, index = sandbox
    mc = index["mailchimp"]
    redirect = "http://127.0.0.1:9/api/v1/integrations/oauth/callback/mailchimp"
    async with httpx.AsyncClient() as http:
        authorize = await http.get(
            f"{mc['oauth_base_url']}/authorize",
            params={
                "response_type": "code",
                "client_id": mc["oauth_client_id"],
                "redirect_uri": redirect,
                "state": "st-1",
            },
        )
        assert authorize.status_code == 302
        query = parse_qs(urlsplit(authorize.headers["location"]).query)
        assert query["state"] == ["st-1"]
        form = {
            "grant_type": "authorization_code",
            "client_id": mc["oauth_client_id"],
            "client_secret": mc["oauth_client_secret"],
            "redirect_uri": redirect,
            "code": query["code"][0],
        }
        token = (await http.post(f"{mc['oauth_base_url']}/token", data=form)).json()
        assert token["expires_in"] == 0 and token["access_token"]
        replay = await http.post(f"{mc['oauth_base_url']}/token", data=form)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        meta = (
            await http.get(
                f"{mc['oauth_base_url']}/metadata",
                headers={"Authorization": f"OAuth {token['access_token']}"},
            )
        ).json()
        assert meta["dc"] == "us1" and meta["api_endpoint"] == f"{url}/mailchimp"
        denied = await http.get(
            f"{mc['oauth_base_url']}/authorize",
            params={
                "response_type": "code",
                "client_id": mc["oauth_client_id"],
                "redirect_uri": redirect,
                "state": "st-2",
                "deny": "1",
            },
        )
        assert dict(parse_qsl(urlsplit(denied.headers["location"]).query))["error"] == (
            "access_denied"
        )
    client = mailchimp_marketing.Client()
    client.set_config({"access_token": token["access_token"], "server": meta["dc"]})
    client.api_client.host = meta["api_endpoint"] + "/3.0"
    assert (await run(client.ping.get))["health_status"]
    wrong_dc = sdk(index, api_key=index["mailchimp"]["api_key"].split("-")[0] + "-us9")
    with pytest.raises(ApiClientError) as refused:
        await run(wrong_dc.ping.get)
    assert refused.value.status_code == 401
    assert problem(refused.value)["title"] == "API Key Invalid"


async def test_at_most_ten_concurrent_connections(sandbox: tuple[str, dict[str, Any]]) -> None:
    url, index = sandbox
    async with httpx.AsyncClient() as http:
        held = await http.post(
            f"{url}/_sandbox/mailchimp/config",
            json={"latency": 0.5},
            headers={"Authorization": f"Bearer {SECRET_KEY}"},
        )
        assert held.status_code == 200
    client = sdk(index)

    def ping() -> int:
        try:
            client.ping.get()
            return 200
        except ApiClientError as exc:
            return int(exc.status_code)

    statuses = await asyncio.gather(*(run(ping) for _ in range(14)))
    assert statuses.count(200) == 10 and statuses.count(429) == 4


async def test_mandrill_webhook_keys_and_signature(sandbox: tuple[str, dict[str, Any]]) -> None:
    url, index = sandbox
    api, key = index["mandrill"]["api_base_url"], index["mandrill"]["api_key"]
    recorder = Receiver()
    async with serve(recorder.app()) as hook_url, httpx.AsyncClient() as http:
        target = f"{hook_url}/api/v1/integrations/webhooks/mailchimp"
        bad = await http.post(f"{api}/webhooks/list", json={"key": "wrong"})
        assert bad.status_code == 500 and bad.json()["name"] == "Invalid_Key"
        hook = (
            await http.post(
                f"{api}/webhooks/add.json", json={"key": key, "url": target, "events": ["send"]}
            )
        ).json()
        unreachable = await http.post(
            f"{api}/webhooks/add", json={"key": key, "url": "http://127.0.0.1:9/nobody"}
        )
        assert unreachable.status_code == 500 and unreachable.json()["name"] == "ValidationError"
        listed = (await http.post(f"{api}/webhooks/list", json={"key": key})).json()
        assert [h["id"] for h in listed] == [hook["id"]]
        sent = await http.post(
            f"{url}/_sandbox/mandrill/webhooks/{hook['id']}/send",
            json={"events": [{"event": "send", "_id": "m1"}]},
            headers={"Authorization": f"Bearer {SECRET_KEY}"},
        )
        assert sent.json()["status"] == 200
        body, headers, _ = recorder.received[0]
        params = dict(parse_qsl(body.decode()))
        signed = target + "".join(k + params[k] for k in sorted(params))
        expected = base64.b64encode(
            hmac.new(hook["auth_key"].encode(), signed.encode(), hashlib.sha1).digest()
        ).decode()
        assert headers["x-mandrill-signature"] == expected
        assert json.loads(params["mandrill_events"])[0]["_id"] == "m1"
        gone = await http.post(f"{api}/webhooks/delete", json={"key": key, "id": hook["id"]})
        assert gone.json()["id"] == hook["id"]
        missing = await http.post(f"{api}/webhooks/info", json={"key": key, "id": hook["id"]})
        assert missing.json()["name"] == "Unknown_Webhook"
