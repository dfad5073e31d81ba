"""Who is connecting: JWT verification and where a client may put its token.

HS256 tokens are checked against a shared secret (kept in Secrets Manager or SSM), RS256 tokens
against the issuer's JWKS (Cognito, Auth0, ...). Each key type is only ever used with its own
algorithm, so a token cannot choose how it is verified (no ``alg: none``, no HS256-with-public-key).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import jwt
from jwt.exceptions import InvalidJTIError, InvalidSubjectError

from prdtool.kernel.errors import AppError, ErrorCode

__all__ = ["AUTH_ERROR_EVENT", "REFRESH_EVENT", "Principal", "TokenVerifier", "expired_token", "extract_token"]

REFRESH_EVENT = "session:refresh"  # how a session renews its token: accepted even once it expired
AUTH_ERROR_EVENT = "error:auth"  # a token refused on an open connection (expired, ended, not renewed)

HMAC_ALGORITHMS = ("HS256",)
JWKS_ALGORITHMS = ("RS256",)
# A subject becomes a key in several tables (and a GSI key, which DynamoDB caps at 2 KB): no real
# issuer's ids come near this (Cognito: 36 characters, Auth0: about 30).
MAX_SUBJECT_CHARS = 256
# 9999-12-31T23:59:59Z: an ``exp`` beyond it means "never" to us, and stays a number DynamoDB stores.
MAX_EXP_S = 253_402_300_799


@dataclass(frozen=True)
class Principal:
    """An authenticated user, from the token's claims."""

    user_id: str
    name: str
    picture: str | None = None
    roles: tuple[str, ...] = field(default=())
    # When the token that proved it expires (its ``exp``), epoch ms; None when no token did.
    expires_at: int | None = None
    # When it was issued (its ``iat``, epoch ms) and its id (``jti``), when it says: what ending
    # a session compares (``prdtool.kernel.security``).
    issued_at: int | None = None
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class TokenVerifier:
    """Verifies JWTs against the configured keys and turns their claims into a ``Principal``."""

    def __init__(
        self,
        *,
        secret: Callable[[], str] | None = None,
        jwks_url: str = "",
        issuer: str = "",
        audience: str = "",
        leeway_s: int = 5,
    ) -> None:
        if secret is None and not jwks_url:
            raise ValueError("configure an HS256 secret or a JWKS URL")
        self._secret = secret
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600) if jwks_url else None
        self._issuer = issuer or None
        self._audience = audience or None
        self._leeway = leeway_s

    def has_expired(self, expires_at: int | None, now_ms: int) -> bool:
        """Whether a token that expires at ``expires_at`` (epoch ms) has expired at ``now_ms``.

        The same test, and the same leeway for clock skew, as PyJWT's check of ``exp`` in ``verify``:
        a session refuses events exactly when its token would no longer verify.
        """
        return expires_at is not None and now_ms >= expires_at + self._leeway * 1000

    def verify(self, token: str | None) -> Principal:
        """Return the token's principal, or raise ``AppError(UNAUTHORIZED)`` saying what is wrong."""
        if not token:
            raise _unauthorized("Authentication token missing", "token_missing")
        try:
            alg = jwt.get_unverified_header(token).get("alg")
            if alg in HMAC_ALGORITHMS and self._secret is not None:
                key: Any = self._secret()
                algorithms = list(HMAC_ALGORITHMS)
            elif alg in JWKS_ALGORITHMS and self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = list(JWKS_ALGORITHMS)
            else:
                raise _unauthorized(_algorithm_refused(alg), "algorithm_not_allowed")
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        # Each case in our own words: PyJWT's messages are not for clients.
        except jwt.ExpiredSignatureError as exc:
            raise expired_token() from exc
        except jwt.ImmatureSignatureError as exc:
            raise _unauthorized("Token not yet valid", "token_not_yet_valid") from exc
        except jwt.InvalidAudienceError as exc:
            raise _unauthorized("Token audience not accepted", "invalid_audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise _unauthorized("Token issuer not accepted", "invalid_issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise _unauthorized("Token signature invalid", "invalid_signature") from exc
        except jwt.PyJWKClientError as exc:
            raise _unauthorized("Token signing key not found", "unknown_key") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise _unauthorized(f"Token has no {exc.claim!r} claim", "invalid_token") from exc
        except InvalidSubjectError as exc:
            raise _invalid_claims("Token subject (sub) must be a non-empty string") from exc
        except (jwt.InvalidIssuedAtError, InvalidJTIError) as exc:
            raise _invalid_claims("Token has a malformed 'iat' or 'jti' claim") from exc
        except jwt.DecodeError as exc:  # not a JWT, bad base64 or JSON, a non-numeric exp, ...
            raise _unauthorized("Token malformed", "invalid_token") from exc
        except jwt.InvalidTokenError as exc:
            raise _unauthorized("Token invalid", "invalid_token") from exc
        return _principal(claims)


def _principal(claims: Mapping[str, Any]) -> Principal:
    """The principal the (verified) claims describe; claims of the wrong shape are refused.

    ``sub`` must be a non-empty string: it is the user's key everywhere. ``roles`` must be a list of
    strings or one string (iterating anything else, such as ``{"admin": 1}``, would grant what the
    issuer never wrote). A ``name`` or ``picture`` that is not a string is treated as absent.
    """
    sub = claims.get("sub")
    if not _text(sub) or not sub.strip() or len(sub) > MAX_SUBJECT_CHARS:
        raise _invalid_claims("Token subject (sub) must be a non-empty string")
    roles = claims.get("roles")
    if roles is None or roles == "":
        roles = ()
    elif _text(roles):
        roles = (roles,)
    elif isinstance(roles, list) and all(_text(r) for r in roles):
        roles = tuple(roles)
    else:
        raise _invalid_claims("Token roles must be a list of strings")
    name, picture = claims.get("name"), claims.get("picture")
    return Principal(
        user_id=sub,
        name=name if _text(name) and name else sub,
        picture=picture if _text(picture) and picture else None,
        roles=roles,
        # PyJWT has checked that exp is an integer (or int()-able), the same int() it compared.
        expires_at=min(int(claims["exp"]), MAX_EXP_S) * 1000,
        # PyJWT has checked that iat is a number; jti is a string when present (InvalidJTIError).
        issued_at=_issued_at(claims.get("iat")),
        token_id=jti if _text(jti := claims.get("jti")) and 0 < len(jti) <= MAX_SUBJECT_CHARS else None,
    )


def _issued_at(iat: Any) -> int | None:
    """The ``iat`` claim in epoch ms (PyJWT has checked it is a number, when present)."""
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        return None
    return int(min(iat, MAX_EXP_S) * 1000)


def _text(value: Any) -> TypeGuard[str]:
    """A string that can be stored and sent: JSON allows lone surrogates (``"\\udfff"``), UTF-8 does not."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _algorithm_refused(alg: Any) -> str:
    # The header is the client's: quote it back only when short (repr escapes what is not printable).
    if isinstance(alg, str) and len(alg) <= 20:
        return f"Token algorithm {alg!r} is not accepted"
    return "Token algorithm is not accepted"


def expired_token() -> AppError:
    """The refusal of an expired token, at CONNECT and on every event of a session past its expiry."""
    return _unauthorized("Token expired", "token_expired")


def _invalid_claims(message: str) -> AppError:
    return _unauthorized(message, "invalid_claims")


def _unauthorized(message: str, reason: str) -> AppError:
    return AppError(ErrorCode.UNAUTHORIZED, message, {"reason": reason})


def extract_token(
    auth: Mapping[str, Any] | None = None,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> str | None:
    """The client's token: Socket.IO CONNECT ``auth.token``, else ``?token=``, else ``Authorization: Bearer``."""
    if auth and isinstance(auth.get("token"), str) and auth["token"]:
        return _strip_bearer(auth["token"])
    if query and query.get("token"):
        return query["token"]
    for name, value in (headers or {}).items():
        if name.lower() == "authorization" and value.lower().startswith("bearer "):
            return value[7:].strip() or None
    return None


def _strip_bearer(token: str) -> str:
    return token[7:].strip() if token.lower().startswith("bearer ") else token
