"""The scheduler: reminders at the right local time, once, to the right people.

- :mod:`scheduler.timing` — pure functions: when a cron-style reminder fires (Asia/Shanghai),
  weekend policies, grace for missed runs, occurrence keys;
- :mod:`scheduler.ratelimit` — a pacer holding a sends-per-second limit across threads;
- :mod:`scheduler.fanout` — fan-out of one occurrence to its recipients with bounded
  concurrency, the delivery log and WeChat error handling;
- :mod:`scheduler.reminders` — audiences, rendering, and the job functions (scheduled reminders,
  activity reminders, pending notices);
- :mod:`scheduler.runner` — APScheduler 3 with its job store in the app database, behind a Redis
  leader lock; ``taoyuan scheduler`` runs it as its own process (web workers never run jobs).
"""
