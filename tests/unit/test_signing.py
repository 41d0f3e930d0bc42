from __future__ import annotations

from dochooks.delivery.signing import sign, verify
from dochooks.webhooks.secrets import new_signing_secret, signing_key

# The worked example of the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'


def test_signature_matches_the_standard_webhooks_example() -> None:
    assert (
        sign(signing_key(SPEC_SECRET), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_verify_accepts_any_of_several_signatures_and_rejects_a_changed_body() -> None:
    key = signing_key(SPEC_SECRET)
    header = "v1,bm90LXRoaXMtb25l " + sign(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert verify(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, header)
    assert not verify(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY + b" ", header)


def test_new_secrets_are_whsec_prefixed_and_distinct() -> None:
    a, b = new_signing_secret(), new_signing_secret()
    assert a.startswith("whsec_") and a != b
    assert len(signing_key(a)) == 24
