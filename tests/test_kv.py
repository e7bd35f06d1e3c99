"""bot.core.kv.HotPath: the webhook's own Redis connections, on the real Redis and fakeredis."""
from __future__ import annotations

import threading
import uuid

import fakeredis
import pytest
import redis

from bot.core.kv import HotPath
from tests.conftest import REDIS_URL


@pytest.fixture
def client(redis_prefix):
    c = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_timeout=2)
    yield c
    c.close()


def key(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def test_round_trip_runs_commands_in_order_and_answers_each(client, redis_prefix):
    hot, k = HotPath(client), key(redis_prefix)
    assert hot.round_trip(("SET", k, "a", "NX", "EX", 60), ("GET", k)) == ["OK", "a"]
    assert hot.round_trip(("SET", k, "b", "NX", "EX", 60), ("GET", k)) == [None, "a"]
    assert 0 < client.ttl(k) <= 60


def test_queued_writes_leave_no_reply_behind(client, redis_prefix):
    hot, k = HotPath(client), key(redis_prefix)
    for i in range(50):
        hot.send_later("SET", k, f"v{i}", "EX", 60)
        if i % 7 == 0:
            hot.flush()
    hot.flush()
    # A reply left unread on the connection would be read as the answer to this GET.
    assert hot.round_trip(("GET", k)) == ["v49"]
    assert client.get(k) == "v49"


def test_an_error_reply_is_raised_after_the_others_are_read(client, redis_prefix):
    hot, k = HotPath(client), key(redis_prefix)
    client.rpush(k, "x")
    with pytest.raises(redis.ResponseError):
        hot.round_trip(("GET", k), ("SET", k + "2", "ok"))  # WRONGTYPE, then a good command
    assert client.get(k + "2") == "ok"
    assert hot.round_trip(("ECHO", "in step")) == ["in step"]  # nothing left unread


def test_a_connection_closed_by_the_server_is_replaced(client, redis_prefix):
    hot, k = HotPath(client), key(redis_prefix)
    hot.round_trip(("CLIENT", "SETNAME", "taoyuan-hotpath-test"))
    victims = [c["id"] for c in client.client_list() if c.get("name") == "taoyuan-hotpath-test"]
    for cid in victims:
        client.client_kill_filter(_id=cid)
    # The dead socket is found on this read (the command may have run, so it is not retried)
    # or on the send; either way the next call works on a new connection.
    try:
        hot.round_trip(("SET", k, "1"))
    except redis.ConnectionError:
        pass
    assert hot.round_trip(("SET", k, "2"), ("GET", k)) == ["OK", "2"]


def test_redis_down_raises_a_redis_error():
    hot = HotPath(redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1))
    with pytest.raises(redis.ConnectionError):
        hot.round_trip(("GET", "x"))
    hot.LATER_SECONDS = 30
    hot.send_later("SET", "x", "1")  # never raises
    with pytest.raises(redis.ConnectionError):
        hot.flush()


def test_threads_never_share_a_connection_at_once(client, redis_prefix):
    hot, k = HotPath(client), key(redis_prefix)
    errors = []

    def worker(n):
        try:
            for i in range(200):
                hot.send_later("SET", f"{k}:{n}:{i}", "queued", "EX", 60)
                assert hot.round_trip(("SET", f"{k}:{n}", str(i)), ("GET", f"{k}:{n}")) == [
                    "OK", str(i)]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    hot.flush()
    assert len(list(client.scan_iter(match=f"{k}:*:*", count=1000))) == 8 * 200


def test_a_server_without_client_reply_gets_ordinary_round_trips(client, redis_prefix, monkeypatch):
    hot, k = HotPath(client), key(redis_prefix)
    monkeypatch.setattr(HotPath, "_probe", lambda self, conn: False)
    hot.send_later("SET", k, "v")
    hot.flush()
    assert client.get(k) == "v" and hot.round_trip(("GET", k)) == ["v"]


def test_the_probe_reads_whatever_an_unsupporting_server_sent(client):
    class NoSkipServer:
        """Answers CLIENT REPLY with an error and every command after it."""

        def __init__(self):
            self.replies = []

        def send_packed_command(self, packed, check_health=True):
            self.replies = [redis.ResponseError("unknown subcommand 'REPLY'"), "skipped",
                            HotPath.PROBE]

        def pack_commands(self, commands):
            return commands

        def read_response(self):
            reply = self.replies.pop(0)
            if isinstance(reply, Exception):
                raise reply
            return reply

        def disconnect(self):
            pass

    server = NoSkipServer()
    assert HotPath(client)._probe(server) is False and server.replies == []


def test_works_on_fakeredis_the_embedded_default():
    fake = fakeredis.FakeRedis(decode_responses=True)
    hot = HotPath(fake)
    assert hot.round_trip(("SET", "k", "a", "NX", "EX", 60), ("GET", "k")) == ["OK", "a"]
    hot.send_later("SET", "k", "b")
    hot.flush()
    assert fake.get("k") == "b" and hot.round_trip(("GET", "k")) == ["b"]
    hot.LATER_SECONDS = 30
    hot.send_later("SET", "k", "c")
    assert hot.round_trip(("GET", "k")) == ["c"]


def test_a_forked_process_opens_its_own_connection(client, redis_prefix):
    hot, k = HotPath(client), key(redis_prefix)
    hot.round_trip(("SET", k, "parent"))
    inherited = hot._idle[-1][0]
    hot._pid = -1  # what a gunicorn worker forked from this process would see
    assert hot.round_trip(("GET", k)) == ["parent"]
    assert hot._idle[-1][0] is not inherited


def test_a_thread_per_request_server_reuses_connections(client, redis_prefix):
    hot, k = HotPath(client), key(redis_prefix)
    for i in range(30):  # `taoyuan serve` (werkzeug, threaded) runs each request in a new thread
        t = threading.Thread(target=hot.round_trip, args=(("SET", k, str(i)),))
        t.start()
        t.join()
    assert len(hot._idle) == 1 and client.get(k) == "29"


def _kill(client, hot, name="taoyuan-hotpath-idle"):
    hot.round_trip(("CLIENT", "SETNAME", name))
    for c in client.client_list():
        if c.get("name") == name:
            client.client_kill_filter(_id=c["id"])


def test_a_claim_on_a_connection_the_server_closed_while_idle_still_deduplicates(
        client, redis_prefix, caplog):
    from bot.wechat.dedup import Deduplicator
    from bot.core.kv import Keys

    dedup = Deduplicator(client, Keys(redis_prefix))
    _kill(client, dedup._hot)  # Redis `timeout`, a NAT or a restart closed it while idle
    first = dedup.claim("m:oIdle:1", peek=redis_prefix + "conv:oIdle")
    assert first.first and first.peeked is None
    assert "handling without it" not in caplog.text
    dedup.publish("m:oIdle:1", "<xml>same</xml>")
    _kill(client, dedup._hot)
    copy = dedup.claim("m:oIdle:1")
    assert not copy.first and copy.reply == "<xml>same</xml>"


def test_a_claim_resent_after_redis_ran_it_is_still_ours(client, redis_prefix, monkeypatch):
    from bot.wechat.dedup import Deduplicator
    from bot.core.kv import Keys

    dedup = Deduplicator(client, Keys(redis_prefix))
    real_read, calls = HotPath._read, []

    def lose_first_replies(self, conn, count, ignore=0):
        calls.append(count)
        if len(calls) == 1:  # Redis ran SET NX + GET, then the connection died
            conn.disconnect()
            raise redis.ConnectionError("Connection closed by server.")
        return real_read(self, conn, count, ignore)
    monkeypatch.setattr(HotPath, "_read", lose_first_replies)
    assert dedup.claim("m:oResend:1").first  # the resent SET NX fails, but the key is ours
    assert len(calls) == 2
    monkeypatch.setattr(HotPath, "_read", real_read)
    dedup.publish("m:oResend:1", "")
    assert not dedup.claim("m:oResend:1").first


# -- send(): write now, read later -----------------------------------------------------------
def test_send_reads_its_replies_later_and_only_once(client, redis_prefix):
    hot, k = HotPath(client), key(redis_prefix)
    sent = hot.send(("SET", k, "a", "NX", "EX", 60), ("GET", k))
    assert hot.round_trip(("ECHO", "meanwhile")) == ["meanwhile"]  # another connection
    assert sent.replies() == ["OK", "a"]
    with pytest.raises(RuntimeError):
        sent.replies()
    assert len(hot._idle) == 2


# -- send_later(): writes that ride with the next round trip ---------------------------------
def _slow(hot, seconds=30.0):
    """A HotPath whose flusher waits ``seconds``: only round trips (or exit) carry writes."""
    hot.LATER_SECONDS = seconds
    return hot


def test_a_queued_write_goes_in_front_of_the_next_round_trip(client, redis_prefix):
    hot, k = _slow(HotPath(client)), key(redis_prefix)
    hot.send_later("SET", k, "queued", "EX", 60)
    hot.send_later("SET", k + ":2", "also", "EX", 60)
    assert client.get(k) is None  # not sent yet
    assert hot.round_trip(("GET", k), ("GET", k + ":2")) == ["queued", "also"]
    assert hot.round_trip(("ECHO", "in step")) == ["in step"]  # no reply left unread


def test_a_queued_write_alone_reaches_redis_soon(client, redis_prefix):
    import time

    hot, k = HotPath(client), key(redis_prefix)
    hot.send_later("SET", k, "by the flusher", "EX", 60)
    deadline = time.monotonic() + 5
    while client.get(k) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.get(k) == "by the flusher"
    assert hot._later == []


def test_the_flusher_thread_ends_when_idle_and_another_starts(client, redis_prefix):
    import time

    hot, k = HotPath(client), key(redis_prefix)
    hot.LATER_SECONDS, hot.FLUSHER_IDLE_SECONDS = 0.01, 0.05
    hot.send_later("SET", k, "1")
    deadline = time.monotonic() + 5
    while hot._wake is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hot._wake is None and client.get(k) == "1"
    hot.send_later("SET", k, "2")
    while client.get(k) != "2" and time.monotonic() < deadline + 5:
        time.sleep(0.01)
    assert client.get(k) == "2"


def test_queued_writes_on_a_server_without_client_reply(client, redis_prefix, monkeypatch):
    monkeypatch.setattr(HotPath, "_probe", lambda self, conn: False)
    hot, k = _slow(HotPath(client)), key(redis_prefix)
    client.rpush(k + ":list", "x")
    hot.send_later("SET", k, "v")
    hot.send_later("INCR", k + ":list")  # WRONGTYPE: an error for the queued write only
    assert hot.round_trip(("GET", k)) == ["v"]  # its reply was read and dropped, not raised
    hot.send_later("SET", k, "w")
    hot.flush()
    assert hot.round_trip(("GET", k)) == ["w"]


def test_queued_writes_are_sent_at_exit(redis_prefix):
    import subprocess
    import sys

    k = key(redis_prefix)
    code = ("import redis; from bot.core.kv import HotPath\n"
            f"hot = HotPath(redis.Redis.from_url({REDIS_URL!r}))\n"
            "hot.LATER_SECONDS = 60\n"
            f"hot.send_later('SET', {k!r}, 'at exit', 'EX', 60)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    assert redis.Redis.from_url(REDIS_URL, decode_responses=True).get(k) == "at exit"


def test_a_forked_child_does_not_send_its_parents_queue(client, redis_prefix):
    import os

    hot, k = _slow(HotPath(client)), key(redis_prefix)
    hot.round_trip(("PING",))
    hot.send_later("SET", k, "parent's", "EX", 60)
    pid = os.fork()
    if pid == 0:  # the child: a gunicorn worker forked after the parent queued a write
        try:
            ok = hot.round_trip(("GET", k)) == [None] and hot._later == []
        except BaseException:  # noqa: BLE001
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    hot.flush()
    assert client.get(k) == "parent's"


# -- the retry claim in two halves (Deduplicator.begin) ----------------------------------------
def test_a_claim_begun_then_read_is_a_claim(client, redis_prefix):
    from bot.wechat.dedup import Deduplicator
    from bot.core.kv import Keys

    dedup = Deduplicator(client, Keys(redis_prefix))
    client.set(redis_prefix + "conv:oBegin", "state")
    pending = dedup.begin("m:oBegin:1", peek=redis_prefix + "conv:oBegin")
    assert pending.dedup_key == "m:oBegin:1"
    assert pending.result()[:3] == (True, None, "state")
    dedup.publish("m:oBegin:1", "<xml>first</xml>")
    assert dedup.claim("m:oBegin:1")[:2] == (False, "<xml>first</xml>")


def test_a_cancelled_claim_releases_the_key_only_if_it_was_ours(client, redis_prefix):
    from bot.wechat.dedup import Deduplicator
    from bot.core.kv import Keys

    dedup = Deduplicator(client, Keys(redis_prefix))
    dedup.begin("m:oCancel:1").cancel()  # ours: released
    dedup._hot.flush()
    assert client.get(redis_prefix + "dedup:m:oCancel:1") is None
    assert dedup.claim("m:oCancel:2").first
    dedup.begin("m:oCancel:2").cancel()  # someone else's: kept
    dedup._hot.flush()
    assert client.get(redis_prefix + "dedup:m:oCancel:2") is not None


def test_a_copy_in_another_process_gets_the_queued_reply(client, redis_prefix):
    from bot.wechat.dedup import Deduplicator
    from bot.core.kv import Keys

    first, other = (Deduplicator(client, Keys(redis_prefix)) for _ in range(2))
    assert first.claim("m:oCopy:1").first
    first.publish("m:oCopy:1", "<xml>reply</xml>")  # queued: no claim in this process follows
    copy = other.claim("m:oCopy:1")  # waits (polls) until the flusher has sent it
    assert copy[:3] == (False, "<xml>reply</xml>", copy.peeked)


# -- broken connections: a resend lands on a new one, queued writes are not lost --------------
def _kill_all(client, names=("taoyuan-hotpath-idle",)):
    for c in client.client_list():
        if c.get("name") in names:
            client.client_kill_filter(_id=c["id"])


def test_a_broken_connection_drops_the_idle_ones_too(client, redis_prefix):
    hot, k = HotPath(client), key(redis_prefix)
    first, second = hot.send(("CLIENT", "SETNAME", "taoyuan-hotpath-idle")), hot.send(
        ("CLIENT", "SETNAME", "taoyuan-hotpath-idle"))
    first.replies(), second.replies()
    assert len(hot._idle) == 2
    _kill_all(client)  # a Redis restart closes every connection
    with pytest.raises(redis.ConnectionError):
        hot.round_trip(("SET", k, "1"))  # the first one found dead ...
    assert len(hot._idle) == 0  # ... and the other with it
    assert hot.round_trip(("SET", k, "2"), ("GET", k)) == ["OK", "2"]


def test_a_claim_resent_after_every_connection_died_still_deduplicates(client, redis_prefix, caplog):
    from bot.wechat.dedup import Deduplicator
    from bot.core.kv import Keys

    dedup = Deduplicator(client, Keys(redis_prefix))
    assert dedup.claim("m:oDead:1").first
    dedup.publish("m:oDead:1", "<xml>stored</xml>")
    dedup._hot.flush()
    pending = [dedup._hot.send(("CLIENT", "SETNAME", "taoyuan-hotpath-idle")) for _ in range(2)]
    [p.replies() for p in pending]  # two idle connections, as a busy worker has
    _kill_all(client)
    copy = dedup.claim("m:oDead:1")  # WeChat's retry
    assert copy[:2] == (False, "<xml>stored</xml>")
    assert "handling without it" not in caplog.text


def test_queued_writes_carried_by_a_broken_round_trip_are_sent_again(client, redis_prefix):
    hot, k = _slow(HotPath(client)), key(redis_prefix)
    hot.round_trip(("CLIENT", "SETNAME", "taoyuan-hotpath-idle"))
    _kill_all(client)
    hot.send_later("SET", k, "the stored reply", "EX", 60)
    try:
        hot.round_trip(("GET", k))  # written on the dead connection, with the queued SET
    except redis.ConnectionError:
        assert hot._later == [("SET", k, "the stored reply", "EX", 60)]  # queued again
    assert hot.round_trip(("GET", k)) == ["the stored reply"]


def test_flush_notices_a_dead_connection_and_sends_on_a_new_one(client, redis_prefix):
    hot, k = _slow(HotPath(client)), key(redis_prefix)
    hot.round_trip(("CLIENT", "SETNAME", "taoyuan-hotpath-idle"))
    _kill_all(client)
    hot.send_later("SET", k, "flushed", "EX", 60)
    hot.flush()
    assert client.get(k) == "flushed"


# -- a hung Redis: one timeout, then fail fast for a while --------------------------------------
def test_after_one_timeout_the_client_fails_fast_then_tries_again(hung_redis_url, caplog):
    import time

    from bot.core.kv import make_redis

    client = make_redis(hung_redis_url, socket_timeout=0.2)
    client.connection_pool.connection_class.QUIET_SECONDS = 0.5
    with pytest.raises(redis.TimeoutError):
        client.get("x")  # waits the whole timeout once
    assert "failing fast" in caplog.text
    for _ in range(3):  # the pool's connections and the webhook's: no more waiting
        with pytest.raises(redis.ConnectionError, match="not waiting"):
            client.get("x")
        with pytest.raises(redis.ConnectionError, match="not waiting"):
            HotPath(client).round_trip(("GET", "x"))
    time.sleep(0.6)
    with pytest.raises(redis.TimeoutError):
        client.get("x")  # tried again after QUIET_SECONDS


def test_another_client_is_not_held_back(hung_redis_url, redis_prefix):
    from bot.core.kv import make_redis

    hung = make_redis(hung_redis_url, socket_timeout=0.2)
    with pytest.raises(redis.TimeoutError):
        hung.get("x")
    healthy = make_redis(REDIS_URL)
    assert healthy.set(redis_prefix + "ok", "1") and healthy.get(redis_prefix + "ok") == "1"


# -- the signed URL bound to its body (issue 12) -------------------------------------------------
def test_a_signed_url_is_bound_to_its_first_body(client, redis_prefix):
    from bot.wechat.dedup import Deduplicator
    from bot.core.kv import Keys

    dedup = Deduplicator(client, Keys(redis_prefix))
    first = dedup.claim("m:oUrl:1", ttl=600, signed=("1700000000", "42", "digest-a"))
    assert first.first and not first.reused
    assert 590 <= client.ttl(redis_prefix + "url:1700000000:42") <= 600
    assert 0 < client.ttl(redis_prefix + "dedup:m:oUrl:1") <= 6  # in progress: a lease (issue 15)
    dedup.publish("m:oUrl:1", "<xml>a</xml>", 600)
    dedup._hot.flush()
    assert 650 <= client.ttl(redis_prefix + "dedup:m:oUrl:1") <= 660  # + retries signed later
    retry = dedup.claim("m:oUrl:1", signed=("1700000000", "42", "digest-a"))
    assert retry[:2] == (False, "<xml>a</xml>") and not retry.reused
    forged = dedup.claim("m:oUrl:2", signed=("1700000000", "42", "digest-b"))
    assert forged.reused and not forged.first
    dedup._hot.flush()
    assert client.get(redis_prefix + "dedup:m:oUrl:2") is None  # the key it took is given back


def test_a_signed_claim_resent_after_redis_ran_it_is_not_a_reuse(client, redis_prefix, monkeypatch):
    from bot.wechat.dedup import Deduplicator
    from bot.core.kv import Keys

    dedup = Deduplicator(client, Keys(redis_prefix))
    real_read, calls = HotPath._read, []

    def lose_first_replies(self, conn, count, ignore=0):
        calls.append(count)
        if len(calls) == 1:  # Redis ran both SET NX, then the connection died
            conn.disconnect()
            raise redis.ConnectionError("Connection closed by server.")
        return real_read(self, conn, count, ignore)
    monkeypatch.setattr(HotPath, "_read", lose_first_replies)
    claim = dedup.claim("m:oUrlResend:1", signed=("1700000000", "43", "digest-a"))
    assert claim.first and not claim.reused
