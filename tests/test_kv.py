"""bot.kv.HotPath: the webhook's own Redis connections, on the real Redis and fakeredis."""
from __future__ import annotations

import threading
import uuid

import fakeredis
import pytest
import redis

from bot.kv import HotPath
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


def test_send_no_reply_writes_and_leaves_no_reply_behind(client, redis_prefix):
    hot, k = HotPath(client), key(redis_prefix)
    for i in range(50):
        hot.send_no_reply("SET", k, f"v{i}", "EX", 60)
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
    with pytest.raises(redis.ConnectionError):
        hot.send_no_reply("SET", "x", "1")


def test_threads_never_share_a_connection_at_once(client, redis_prefix):
    hot, k = HotPath(client), key(redis_prefix)
    errors = []

    def worker(n):
        try:
            for i in range(200):
                hot.send_no_reply("SET", f"{k}:{n}", str(i))
                assert hot.round_trip(("GET", f"{k}:{n}")) == [str(i)]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []


def test_a_server_without_client_reply_gets_ordinary_round_trips(client, redis_prefix, monkeypatch):
    hot, k = HotPath(client), key(redis_prefix)
    monkeypatch.setattr(HotPath, "_probe", lambda self, conn: False)
    hot.send_no_reply("SET", k, "v")
    assert hot.round_trip(("GET", k)) == ["v"]


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
    hot.send_no_reply("SET", "k", "b")
    assert fake.get("k") == "b" and hot.round_trip(("GET", "k")) == ["b"]


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
    from bot.dedup import Deduplicator
    from bot.kv import Keys

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
    from bot.dedup import Deduplicator
    from bot.kv import Keys

    dedup = Deduplicator(client, Keys(redis_prefix))
    real_read, calls = HotPath._read, []

    def lose_first_replies(conn, count, ignore=0):
        calls.append(count)
        if len(calls) == 1:  # Redis ran SET NX + GET, then the connection died
            conn.disconnect()
            raise redis.ConnectionError("Connection closed by server.")
        return real_read(conn, count, ignore)
    monkeypatch.setattr(HotPath, "_read", staticmethod(lose_first_replies))
    assert dedup.claim("m:oResend:1").first  # the resent SET NX fails, but the key is ours
    assert len(calls) == 2
    monkeypatch.setattr(HotPath, "_read", staticmethod(real_read))
    dedup.publish("m:oResend:1", "")
    assert not dedup.claim("m:oResend:1").first
