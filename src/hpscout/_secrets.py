"""Database passwords: masked in everything hpscout writes or prints, resolved only to connect.

A storage URL may carry a password (``postgresql://user:pw@host/db``). hpscout never
writes or prints it: :func:`mask_url` / :func:`mask_secrets` replace it with ``***``
in configs written to disk, JSON output and messages. The ways PostgreSQL users keep
secrets work as they do elsewhere:

* a URL without a password, plus libpq's ``PGPASSWORD`` or ``~/.pgpass`` (``PGPASSFILE``);
* ``env:NAME``: the environment variable ``NAME`` holds the whole URL (as the config's
  ``storage`` or as ``--storage``, which then keeps the URL out of ``ps`` listings).

A URL whose password is the mask ``***`` (read back from a config hpscout wrote) connects
with the password this process masked, if it masked that URL itself (``hpscout run`` reads
back its own run folder), else without one, so libpq falls back to ``PGPASSWORD`` /
``~/.pgpass``. The password stays in memory only.
"""

from __future__ import annotations

import os
import re

from hpscout._errors import StorageError

__all__ = ["MASK", "ENV_PREFIX", "mask_url", "mask_secrets", "resolve_secret_url"]

#: what a password becomes in files and messages
MASK = "***"
#: ``env:NAME`` names an environment variable that holds the whole URL
ENV_PREFIX = "env:"

# scheme://user:password@  (the password runs to the last '@' before any whitespace)
_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)([^\s]*)@")


#: masked URL -> the URL with its password, for URLs this process masked (memory only)
_UNMASKED: dict[str, str] = {}


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for files, messages and logs).

    Example:
        >>> mask_url("postgresql://scout:s3cret@db-host:5432/hpscout")
        'postgresql://scout:***@db-host:5432/hpscout'
        >>> mask_url("env:HPSCOUT_STORAGE")
        'env:HPSCOUT_STORAGE'
    """
    masked = _PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}@", url)
    if masked != url and f":{MASK}@" not in url:
        _UNMASKED[masked] = url
    return masked


def mask_secrets(text: str) -> str:
    """Every URL password inside free text (an error message, a log line) masked."""
    return mask_url(text)


def resolve_secret_url(value: str, *, what: str = "storage") -> str:
    """The URL to connect with: ``env:NAME`` read from the environment, a masked password dropped.

    Raises:
        StorageError: ``env:NAME`` names an unset or empty variable.

    Example:
        >>> resolve_secret_url("postgresql://scout:***@db-host/hpscout")
        'postgresql://scout@db-host/hpscout'
    """
    if value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :].strip()
        url = os.environ.get(name, "").strip() if name else ""
        if not url:
            raise StorageError(
                f"{what} is {value!r}, but the environment variable {name or '(no name)'} is "
                f"{'empty' if name in os.environ else 'not set'}; export it with the storage URL, "
                f"e.g. export {name or 'HPSCOUT_STORAGE'}=postgresql://user@host/db"
            )
        value = url
    if f":{MASK}@" not in value:
        return value
    # a masked password: the one this process masked, else none (libpq then reads PGPASSWORD / ~/.pgpass)
    return _UNMASKED.get(value) or value.replace(f":{MASK}@", "@", 1)
