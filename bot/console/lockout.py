"""Console login lockout, kept in Redis (no Flask here, so ``taoyuan staff unlock`` can use it).

Failed sign-ins are counted for :data:`LOGIN_WINDOW` seconds under three keys:

- per username (any IP): :data:`USER_MAX` failures lock that account;
- per (username, IP): :data:`IP_USER_MAX` failures lock that account from that IP;
- per IP (any username): :data:`IP_MAX` failures, a higher limit, lock that IP.

So six wrong passwords for ``worker1`` lock ``worker1`` only: ``admin1`` at the same desk
still signs in. ``unlock(services, username)`` clears an account's counters.
"""
from __future__ import annotations

#: Failures per (username, IP) within the window before that pair is locked.
IP_USER_MAX = 5
#: Failures per username from any IPs within the window before the account is locked.
USER_MAX = 10
#: Failures per IP for any usernames within the window before the IP is locked.
IP_MAX = 30
#: Seconds a failure is remembered (15 minutes).
LOGIN_WINDOW = 900

_GLOB = str.maketrans({c: "\\" + c for c in "*?[]\\"})


def _name(username: str) -> str:
    return (username or "").strip().lower()[:32]


def _counters(services, username: str, ip: str) -> list[tuple[str, int]]:
    keys, name = services.keys, _name(username)
    return [(keys("console", "login_fail", "user", name), USER_MAX),
            (keys("console", "login_fail", "user", name, "ip", ip or "?"), IP_USER_MAX),
            (keys("console", "login_fail", "ip", ip or "?"), IP_MAX)]


def is_blocked(services, username: str, ip: str) -> bool:
    """True when ``username``, or ``username`` from ``ip``, or ``ip`` had too many failures."""
    counters = _counters(services, username, ip)
    values = services.redis.mget([key for key, _ in counters])
    return any(int(v or 0) >= limit for v, (_, limit) in zip(values, counters))


def note_failure(services, username: str, ip: str) -> None:
    """Count one failed sign-in of ``username`` from ``ip`` (each counter expires after
    :data:`LOGIN_WINDOW` seconds from its latest failure)."""
    pipe = services.redis.pipeline()
    for key, _ in _counters(services, username, ip):
        pipe.incr(key)
        pipe.expire(key, LOGIN_WINDOW)
    pipe.execute()


def clear_success(services, username: str, ip: str) -> None:
    """After a good sign-in: forget the account's counters (the IP counter stays)."""
    services.redis.delete(*[key for key, _ in _counters(services, username, ip)[:2]])


def unlock(services, username: str) -> int:
    """Clear every failure counter of ``username`` (all IPs); returns how many were removed."""
    keys, name = services.keys, _name(username)
    found = [keys("console", "login_fail", "user", name)]
    pattern = keys("console", "login_fail", "user", name.translate(_GLOB), "ip", "*")
    found += list(services.redis.scan_iter(match=pattern, count=500))
    return int(services.redis.delete(*found)) if found else 0
