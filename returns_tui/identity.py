"""Who is running this program (DESIGN §3, "Roles and identity" and "Who may touch the data").

A person's name comes from one of two places, and from nothing else:

- the account of the process's real uid, for a person who runs returns-tui on data their own
  account can open (their own database, or the service account running its own commands);
- returns-tui-session (returns_tui.session), which runs as a shared host's service account and
  hands the command the name that sshd's forced command or sudo gave it, as an argument.

No environment variable names the login, and the effective uid is never asked: `fakeroot` and
`unshare -r` make anyone root in those terms. Whoever fakes that is still only able to open what
their own account can open; on a shared host, that is none of the data.
"""

from __future__ import annotations

import os
import pwd

from returns_tui.errors import ReturnsError


def login_name() -> str:
    """The login name of the real uid's account."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise ReturnsError(
            f"The uid {uid} has no account name on this host; returns-tui knows people by "
            "their login name."
        ) from None
