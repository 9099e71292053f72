"""Who may use the dashboard, and proof that a POST came from its own pages.

- **Token.** With a token, every page and endpoint but the login form and the static assets
  asks for it: an ``Authorization: Bearer <token>`` header, or the session cookie that the
  login form (or ``?token=`` on any page) sets. The cookie holds an HMAC of the token, never
  the token itself.
- **CSRF.** Actions are POSTs carrying a ``csrf`` field that must match the ``aj_csrf`` cookie
  (a random value, HttpOnly, SameSite=Strict) signed with this app's secret: a double-submit
  cookie that another site can neither read nor forge. A POST from another origin is refused
  as well.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SESSION_COOKIE = "aj_session"
CSRF_COOKIE = "aj_csrf"


class Guard:
    def __init__(self, token: str | None) -> None:
        if token is not None and not token:
            raise ValueError("the dashboard token must not be empty")
        self.token = token
        self._secret = secrets.token_bytes(32)
        self._session = (hmac.new(token.encode(), b"asyncjobs dashboard session", hashlib.sha256)
                         .hexdigest() if token else "")

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def session_value(self) -> str:
        return self._session

    def allows(self, authorization: str | None, session: str | None) -> bool:
        """Whether a request with this Authorization header and session cookie may go on."""
        if self.token is None:
            return True
        if authorization is not None:
            scheme, _, given = authorization.partition(" ")
            if scheme.lower() == "bearer" and self.token_matches(given.strip()):
                return True
        return session is not None and hmac.compare_digest(session.encode(), self._session.encode())

    @staticmethod
    def new_csrf_cookie() -> str:
        return secrets.token_urlsafe(24)

    def csrf_for(self, cookie: str) -> str:
        """The form field that goes with the CSRF cookie ``cookie``."""
        return hmac.new(self._secret, cookie.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, cookie: str | None, field: str | None) -> bool:
        if not cookie or not field:
            return False
        return hmac.compare_digest(self.csrf_for(cookie).encode(), field.encode())
