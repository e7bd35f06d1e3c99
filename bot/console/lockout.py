"""Console login lockout, kept in Redis (no Flask here, so ``taoyuan staff unlock`` can use it).

Failed sign-ins are counted for :data:`LOGIN_WINDOW` seconds under three keys:

- per (username, client address): :data:`IP_USER_MAX` failures lock that account from that
  address only (:data:`PAIR`): a guesser elsewhere cannot lock a named colleague out;
- per client address (any username): :data:`IP_MAX` failures lock that address (:data:`ADDRESS`);
- per username (any address): only :data:`USER_MAX` failures, far more than one desk makes,
  lock the account everywhere (:data:`ACCOUNT`): a guessing campaign from many addresses
  (rotating X-Forwarded-For through a trusted proxy, a botnet) against one account.

So six wrong passwords for ``worker1`` lock ``worker1`` at that desk only: ``admin1`` there,
and ``worker1`` at another desk, still sign in. ``unlock(services, username)`` clears an
account's counters (every address).
"""
from __future__ import annotations

#: Failures per (username, client address) within the window before that pair is locked.
IP_USER_MAX = 5
#: Failures per username from all addresses within the window before the account is locked
#: everywhere (high: anyone can make failures for a known username).
USER_MAX = 50
#: Failures per client address for any usernames within the window before it is locked.
IP_MAX = 30
#: Seconds a failure is remembered (15 minutes).
LOGIN_WINDOW = 900

#: What :func:`blocked` answers: the account from this address, this address, the account.
PAIR, ADDRESS, ACCOUNT = "pair", "address", "account"

_GLOB = str.maketrans({c: "\\" + c for c in "*?[]\\"})


def _name(username: str) -> str:
    return (username or "").strip().lower()[:32]


def _counters(services, username: str, ip: str) -> list[tuple[str, int, str]]:
    """(Redis key, limit, what it locks) for each counter; account-wide ones first."""
    keys, name = services.keys, _name(username)
    return [(keys("console", "login_fail", "user", name), USER_MAX, ACCOUNT),
            (keys("console", "login_fail", "user", name, "ip", ip or "?"), IP_USER_MAX, PAIR),
            (keys("console", "login_fail", "ip", ip or "?"), IP_MAX, ADDRESS)]


def blocked(services, username: str, ip: str) -> str | None:
    """What is locked for ``username`` signing in from ``ip``: :data:`PAIR`, :data:`ADDRESS`,
    :data:`ACCOUNT` (the one to report when several are), or None."""
    counters = _counters(services, username, ip)
    values = services.redis.mget([key for key, _, _ in counters])
    found = {what for v, (_, limit, what) in zip(values, counters) if int(v or 0) >= limit}
    return next((what for what in (ACCOUNT, PAIR, ADDRESS) if what in found), None)


def is_blocked(services, username: str, ip: str) -> bool:
    """True when ``username`` from ``ip``, or ``ip``, or ``username`` everywhere is locked."""
    return blocked(services, username, ip) is not None


def note_failure(services, username: str, ip: str) -> None:
    """Count one failed sign-in of ``username`` from ``ip`` (each counter expires after
    :data:`LOGIN_WINDOW` seconds from its latest failure)."""
    pipe = services.redis.pipeline()
    for key, _, _ in _counters(services, username, ip):
        pipe.incr(key)
        pipe.expire(key, LOGIN_WINDOW)
    pipe.execute()


def clear_success(services, username: str, ip: str) -> None:
    """After a good sign-in: forget the account's counter for this address. The account-wide
    counter stays (her sign-in must not give a campaign against the account a fresh start),
    and so does the address's."""
    services.redis.delete(_counters(services, username, ip)[1][0])


def unlock(services, username: str) -> int:
    """Clear every failure counter of ``username`` (all addresses); returns how many were
    removed. An address's own counter is left to expire."""
    keys, name = services.keys, _name(username)
    found = [keys("console", "login_fail", "user", name)]
    pattern = keys("console", "login_fail", "user", name.translate(_GLOB), "ip", "*")
    found += list(services.redis.scan_iter(match=pattern, count=500))
    return int(services.redis.delete(*found)) if found else 0
