"""Token verification: what is accepted, what is refused, and why the client is told."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from prdtool.kernel.auth import Principal, TokenVerifier, extract_token
from prdtool.kernel.errors import AppError, ErrorCode
from tests.fakes.aws_http import FakeAws
from tests.support import SECRET, make_token, unsigned_token


def hs256(**kwargs: str) -> TokenVerifier:
    return TokenVerifier(secret=lambda: SECRET, **kwargs)


def refusal(verifier: TokenVerifier, token: str | None) -> str:
    with pytest.raises(AppError) as caught:
        verifier.verify(token)
    assert caught.value.code == ErrorCode.UNAUTHORIZED
    return caught.value.data["reason"]


def test_valid_hs256_token_gives_the_principal() -> None:
    token = make_token(sub="user_9", name="Sarah Smith", picture="https://img/s.png", roles=["admin"], jti="t-1")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert hs256().verify(token) == Principal(
        "user_9", "Sarah Smith", "https://img/s.png", ("admin",), expires_at=claims["exp"] * 1000,
        issued_at=claims["iat"] * 1000, token_id="t-1",
    )  # fmt: skip


def test_name_defaults_to_the_user_id_and_a_single_role_string_is_accepted() -> None:
    now = int(time.time())
    token = jwt.encode({"sub": "u1", "exp": now + 60, "roles": "admin"}, SECRET, algorithm="HS256")
    principal = hs256().verify(token)
    assert (principal.name, principal.roles, principal.is_admin) == ("u1", ("admin",), True)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "token_missing"),
        ("", "token_missing"),
        (make_token(ttl=-60), "token_expired"),
        # Valid only years from now: the parameters are made when tests are collected, long before they run.
        (make_token(nbf=int(time.time()) + 10 * 365 * 86_400), "token_not_yet_valid"),
        (make_token("another-secret-of-sufficient-length-0123456789"), "invalid_signature"),
        (unsigned_token(), "algorithm_not_allowed"),
        (make_token(algorithm="HS512"), "algorithm_not_allowed"),
        ("not.a.jwt", "invalid_token"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(token: str | None, reason: str) -> None:
    assert refusal(hs256(), token) == reason


@pytest.mark.parametrize(
    "claims",
    [
        {"roles": {"admin": 1}},  # iterating an object would make its keys roles
        {"roles": ["editor", {"admin": True}]},
        {"roles": 1},
        {"sub": ""},
        {"sub": "   "},
        {"sub": 42},
        {"sub": "x" * 257},
    ],
)
def test_claims_of_the_wrong_shape_are_refused(claims: dict[str, object]) -> None:
    with pytest.raises(AppError) as caught:
        hs256().verify(make_token(**claims))
    assert caught.value.code == ErrorCode.UNAUTHORIZED
    assert caught.value.data == {"reason": "invalid_claims"}
    assert caught.value.message in (
        "Token roles must be a list of strings",
        "Token subject (sub) must be a non-empty string",
    )


def test_a_name_or_picture_that_is_not_a_string_is_treated_as_absent() -> None:
    principal = hs256().verify(make_token(sub="u1", name=5, picture={"url": "x"}))
    assert (principal.user_id, principal.name, principal.picture) == ("u1", "u1", None)
    principal = hs256().verify(make_token(sub="u1", name=["Ann"], picture=7))
    assert (principal.name, principal.picture) == ("u1", None)


def test_refusals_are_in_our_own_words() -> None:
    """No PyJWT message reaches a client: each case has its own wording and reason."""
    now = int(time.time())

    def signed(claims: dict[str, object]) -> str:
        return jwt.encode(claims, SECRET, algorithm="HS256")

    malformed = "Token has a malformed 'iat' or 'jti' claim"
    cases = [
        ("not.a.jwt", "Token malformed", "invalid_token"),
        ("garbage", "Token malformed", "invalid_token"),
        (signed({"sub": "u1", "exp": "tomorrow"}), "Token malformed", "invalid_token"),
        (signed({"sub": "u1"}), "Token has no 'exp' claim", "invalid_token"),
        (signed({"exp": now + 60}), "Token has no 'sub' claim", "invalid_token"),
        (signed({"sub": "u1", "exp": now + 60, "iat": "x"}), malformed, "invalid_claims"),
        (signed({"sub": "u1", "exp": now + 60, "jti": 5}), malformed, "invalid_claims"),
        (_unsigned({"alg": "x" * 200}, {"sub": "u1", "exp": now + 60}), "Token algorithm is not accepted",
         "algorithm_not_allowed"),
        # A header nested past Python's recursion limit (PyJWT's message would quote json's).
        (_b64(b"[" * 5000 + b"]" * 5000) + ".e30.c2ln", "Token malformed", "invalid_token"),
    ]  # fmt: skip
    for token, message, reason in cases:
        with pytest.raises(AppError) as caught:
            hs256().verify(token)
        assert (caught.value.message, caught.value.data) == (message, {"reason": reason}), token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    """A token as anyone can write one: the header and claims as given, a made-up signature."""
    return ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), "c2ln"))


def test_expiry_is_judged_with_the_verifiers_leeway() -> None:
    verifier = TokenVerifier(secret=lambda: SECRET, leeway_s=5)
    assert not verifier.has_expired(10_000, 14_999)
    assert verifier.has_expired(10_000, 15_000)
    assert not verifier.has_expired(None, 10**15)  # a principal no token proved


def test_token_without_sub_or_exp_is_refused() -> None:
    no_exp = jwt.encode({"sub": "u1"}, SECRET, algorithm="HS256")
    no_sub = jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    assert refusal(hs256(), no_exp) == "invalid_token"
    assert refusal(hs256(), no_sub) == "invalid_token"


def test_audience_and_issuer_are_checked_when_configured() -> None:
    verifier = hs256(audience="prdtool", issuer="https://auth.example.com/")
    good = make_token(aud="prdtool", iss="https://auth.example.com/")
    assert verifier.verify(good).user_id == "user_123"
    assert refusal(verifier, make_token(aud="other", iss="https://auth.example.com/")) == "invalid_audience"
    assert refusal(verifier, make_token(aud="prdtool", iss="https://evil.example.com/")) == "invalid_issuer"
    assert refusal(verifier, make_token(iss="https://auth.example.com/")) == "invalid_token"  # aud missing


@pytest.fixture
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(numbers.n), "e": b64(numbers.e)}


def test_rs256_tokens_verify_against_the_jwks(fake_aws: FakeAws, rsa_key: rsa.RSAPrivateKey) -> None:
    fake_aws.jwks = {"keys": [_jwk(rsa_key, "k1")]}
    verifier = TokenVerifier(jwks_url=f"{fake_aws.endpoint}/jwks.json", audience="prdtool")
    token = make_token(rsa_key, algorithm="RS256", headers={"kid": "k1"}, aud="prdtool")
    assert verifier.verify(token).user_id == "user_123"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert refusal(verifier, make_token(other, algorithm="RS256", headers={"kid": "k1"}, aud="prdtool")) == (
        "invalid_signature"
    )
    assert refusal(verifier, make_token(rsa_key, algorithm="RS256", headers={"kid": "k9"}, aud="prdtool")) == (
        "unknown_key"
    )


def test_hs256_signed_with_the_public_key_is_refused(fake_aws: FakeAws, rsa_key: rsa.RSAPrivateKey) -> None:
    """The classic algorithm-confusion attack: HMAC keyed with the (public) RSA key."""
    fake_aws.jwks = {"keys": [_jwk(rsa_key, "k1")]}
    verifier = TokenVerifier(jwks_url=f"{fake_aws.endpoint}/jwks.json")
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = jwt.api_jws.PyJWS().encode(
        b'{"sub":"admin","exp":9999999999}', public_pem[:32], algorithm="HS256", headers={"kid": "k1"}
    )
    assert refusal(verifier, forged) == "algorithm_not_allowed"


def test_a_verifier_needs_a_key_source() -> None:
    with pytest.raises(ValueError):
        TokenVerifier()


def test_token_sources_in_order_of_precedence() -> None:
    auth, query, headers = {"token": "from-auth"}, {"token": "from-query"}, {"Authorization": "Bearer from-header"}
    assert extract_token(auth, query, headers) == "from-auth"
    assert extract_token({"token": "Bearer from-auth"}) == "from-auth"
    assert extract_token({}, query, headers) == "from-query"
    assert extract_token(None, {}, headers) == "from-header"
    assert extract_token(None, None, {"authorization": "bearer lower"}) == "lower"
    assert extract_token(None, None, {"Authorization": "Basic abc"}) is None
    assert extract_token({"token": 5}, None, None) is None
