"""Pure pieces of guest ordering: the hello credential, the webhook signature, the rate limit bucket."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from app.codes import ErrorCode as AppCode
from app.errors import ApiError
from app.guest_limit import GuestRateLimit
from app.services.guest_payments import verify_signature
from app.settings import Settings, SettingsError
from hub.codes import ErrorCode
from hub.errors import ProtocolError
from hub.protocol import commands as c
from hub.protocol.table import CommandTable

guest_aware = CommandTable(c.core_commands((), ("order_token",))).decode
core_only = CommandTable(c.core_commands()).decode


def test_hello_takes_an_order_token_when_the_application_accepts_it() -> None:
    hello = guest_aware('{"type":"hello","order_token":"abc"}', now=0.0)
    assert hello == c.Hello(token="abc", credential="order_token")
    assert guest_aware('{"type":"hello","token":"t"}', now=0.0) == c.Hello(token="t")
    for frame in ('{"type":"hello","token":"t","order_token":"abc"}', '{"type":"hello","order_token":7}'):
        with pytest.raises(ProtocolError) as refused:
            guest_aware(frame, now=0.0)
        assert refused.value.code is ErrorCode.BAD_REQUEST
    with pytest.raises(ProtocolError, match="token"):  # a hub that accepts no other credential wants a token
        core_only('{"type":"hello","order_token":"abc"}', now=0.0)


def _sign(body: bytes, at: int, secret: str = "s3cret") -> str:
    return f"t={at},v1=" + hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (None, "t=<unix seconds>"),
        ("v1=abc", "t=<unix seconds>"),
        ("t=1000,v1=", "t=<unix seconds>"),
        (_sign(b"{}", 1000 - 301), "300 s"),
        (_sign(b"{}", 1000 + 301), "300 s"),
        (_sign(b"{}", 1000, secret="other"), "does not match"),
        (_sign(b'{"amount":1}', 1000), "does not match"),
    ],
)
def test_a_bad_signature_is_unauthorized(header: str | None, fragment: str) -> None:
    with pytest.raises(ApiError) as refused:
        verify_signature("s3cret", header, b"{}", now=1000.0)
    assert refused.value.code is AppCode.UNAUTHORIZED and fragment in refused.value.message


def test_a_good_signature_passes() -> None:
    verify_signature("s3cret", _sign(b"{}", 1000), b"{}", now=1000.0)
    verify_signature("s3cret", _sign(b"{}", 800), b"{}", now=1000.0)


def test_the_bucket_refuses_past_its_burst_per_address() -> None:
    limit = GuestRateLimit(3)
    for _ in range(3):
        limit.check("10.0.0.1")
    with pytest.raises(ApiError) as refused:
        limit.check("10.0.0.1")
    assert refused.value.status == 429 and refused.value.headers is not None
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 20  # a token every 20 s
    limit.check("10.0.0.2")  # another address has its own bucket


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"HUB_CURRENCY": "usd"}, "HUB_CURRENCY"),
        ({"HUB_PAYMENT_HOLD_S": "-1"}, "cannot be negative"),
        ({"HUB_GUEST_REQUESTS_PER_MIN": "0"}, "HUB_GUEST_REQUESTS_PER_MIN"),
    ],
)
def test_guest_settings_are_checked_at_start(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        Settings.from_env(env)
    assert Settings.from_env({}).payment_hold_s == 600 and Settings.from_env({}).payment_webhook_secret == ""
