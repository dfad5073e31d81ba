"""Who is connecting: JWT verification and where a client may put its token.

HS256 tokens are checked against a shared secret (kept in Secrets Manager or SSM), RS256 tokens
against the issuer's JWKS (Cognito, Auth0, ...). Each key type is only ever used with its own
algorithm, so a token cannot choose how it is verified (no ``alg: none``, no HS256-with-public-key).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from prdtool.errors import AppError, ErrorCode

__all__ = ["Principal", "TokenVerifier", "extract_token"]

HMAC_ALGORITHMS = ("HS256",)
JWKS_ALGORITHMS = ("RS256",)


@dataclass(frozen=True)
class Principal:
    """An authenticated user, from the token's claims."""

    user_id: str
    name: str
    picture: str | None = None
    roles: tuple[str, ...] = field(default=())

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
                raise _unauthorized(f"Token algorithm {alg!r} is not accepted", "algorithm_not_allowed")
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _unauthorized("Token expired", "token_expired") from exc
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
        except jwt.InvalidTokenError as exc:
            raise _unauthorized(f"Token invalid: {exc}", "invalid_token") from exc
        return _principal(claims)


def _principal(claims: Mapping[str, Any]) -> Principal:
    roles = claims.get("roles") or ()
    if isinstance(roles, str):
        roles = (roles,)
    sub = str(claims["sub"])
    return Principal(
        user_id=sub,
        name=str(claims.get("name") or sub),
        picture=claims.get("picture"),
        roles=tuple(str(r) for r in roles),
    )


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
