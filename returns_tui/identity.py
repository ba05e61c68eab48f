"""Who is running this program: the login name on the host (DESIGN §3)."""

from __future__ import annotations

import os
import pwd


def login_name() -> str:
    """The account's login name. Root may act as another user by setting RETURNS_TUI_USER
    (as `su` would let it anyway); for anyone else that variable is ignored, so a user
    cannot pass for another."""
    if os.geteuid() == 0 and (name := os.environ.get("RETURNS_TUI_USER")):
        return name
    return pwd.getpwuid(os.geteuid()).pw_name
