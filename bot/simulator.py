"""Playing the WeChat server: build a push, sign (and encrypt) it, post it, read the reply.

Used by ``taoyuan chat`` against a running webhook and by the tests against the Flask test
client. Follows 消息加解密说明 for safe (``aes``) and compat modes.
"""
from __future__ import annotations

import itertools
import random
import string
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlencode

from bot.wechat.protocol import AesKey, parse_xml, sha1_signature
from bot.wechat.replies import cdata

_msg_ids = itertools.count(int(time.time() * 1000) * 1000 % 10**18)

#: A transport posts ``(path_with_query, body_bytes)`` and returns ``(status, body_text)``.
Transport = Callable[[str, bytes], tuple[int, str]]


def fields_xml(fields: dict) -> str:
    """Render push fields as WeChat's XML (nested dicts become nested elements)."""
    def render(d: dict) -> str:
        out = []
        for k, v in d.items():
            if isinstance(v, dict):
                out.append(f"<{k}>{render(v)}</{k}>")
            elif isinstance(v, list):
                out.extend(f"<{k}>{render(i) if isinstance(i, dict) else cdata(str(i))}</{k}>" for i in v)
            elif isinstance(v, (int, float)):
                out.append(f"<{k}>{v}</{k}>")
            else:
                out.append(f"<{k}>{cdata(str(v))}</{k}>")
        return "".join(out)
    return f"<xml>{render(fields)}</xml>"


def text_fields(openid: str, content: str, *, account: str = "gh_taoyuanjiemei",
                msg_id: int | None = None) -> dict:
    """Fields of a text message from ``openid``."""
    return {"ToUserName": account, "FromUserName": openid, "CreateTime": int(time.time()),
            "MsgType": "text", "Content": content, "MsgId": msg_id or next(_msg_ids)}


def event_fields(openid: str, event: str, *, account: str = "gh_taoyuanjiemei", **extra) -> dict:
    """Fields of an event push (``event`` as WeChat spells it: ``subscribe``, ``CLICK`` ...)."""
    return {"ToUserName": account, "FromUserName": openid, "CreateTime": int(time.time()),
            "MsgType": "event", "Event": event, **extra}


def location_fields(openid: str, lat: float, lng: float, *, label: str = "",
                    account: str = "gh_taoyuanjiemei") -> dict:
    """Fields of a location message (GCJ-02 degrees)."""
    return {"ToUserName": account, "FromUserName": openid, "CreateTime": int(time.time()),
            "MsgType": "location", "Location_X": lat, "Location_Y": lng, "Scale": 15,
            "Label": label, "MsgId": next(_msg_ids)}


def _nonce() -> str:
    return "".join(random.choices(string.digits, k=10))


@dataclass
class Simulator:
    """Signs pushes for ``token``; with ``aes_key`` set, encrypts them (``mode`` "safe" or
    "compat") and decrypts the replies."""

    token: str
    aes_key: AesKey | None = None
    mode: str = "plain"          # plain | safe | compat
    path: str = "/wechat"
    last_status: int = field(default=0, init=False)

    def signed_query(self, extra: dict | None = None) -> dict:
        """Query parameters with a valid ``signature`` for a fresh timestamp and nonce."""
        ts, nonce = str(int(time.time())), _nonce()
        q = {"signature": sha1_signature(self.token, ts, nonce), "timestamp": ts, "nonce": nonce,
             "openid": "sim"}
        q.update(extra or {})
        return q

    def build(self, fields: dict) -> tuple[str, bytes]:
        """The request path (with query) and body WeChat would post for ``fields``."""
        xml = fields_xml(fields)
        query = self.signed_query({"openid": str(fields.get("FromUserName", ""))})
        if self.mode == "plain" or self.aes_key is None:
            return f"{self.path}?{urlencode(query)}", xml.encode()
        from wechatpy.crypto import PrpCrypto

        enc = PrpCrypto(self.aes_key.key).encrypt(xml, self.aes_key.app_id)
        enc = enc.decode() if isinstance(enc, bytes) else enc
        query["encrypt_type"] = "aes"
        query["msg_signature"] = sha1_signature(self.token, query["timestamp"], query["nonce"], enc)
        outer = {"ToUserName": fields.get("ToUserName", ""), "Encrypt": enc}
        if self.mode == "compat":
            outer = {**fields, "Encrypt": enc}
        return f"{self.path}?{urlencode(query)}", fields_xml(outer).encode()

    def read_reply(self, body: str) -> dict | None:
        """Parse (and, in AES modes, verify and decrypt) a reply; None for ``success``/empty.

        Raises ``ValueError`` if an encrypted reply's signature is wrong.
        """
        if not body or body == "success":
            return None
        fields = parse_xml(body)
        if "Encrypt" in fields and self.aes_key is not None:
            from wechatpy.crypto import PrpCrypto

            sig = sha1_signature(self.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
            if sig != fields.get("MsgSignature"):
                raise ValueError("reply MsgSignature does not match")
            fields = parse_xml(PrpCrypto(self.aes_key.key).decrypt(fields["Encrypt"], self.aes_key.app_id))
        return fields

    def send(self, transport: Transport, fields: dict) -> dict | None:
        """Post ``fields`` through ``transport``; return the reply's fields (None = success).

        Raises ``RuntimeError`` on a non-200 answer.
        """
        path, body = self.build(fields)
        status, text = transport(path, body)
        self.last_status = status
        if status != 200:
            raise RuntimeError(f"webhook answered HTTP {status}: {text[:200]}")
        return self.read_reply(text)


def flask_transport(client) -> Transport:
    """A transport over a Flask test client."""
    def post(path: str, body: bytes) -> tuple[int, str]:
        resp = client.post(path, data=body, content_type="text/xml")
        return resp.status_code, resp.get_data(as_text=True)
    return post


def http_transport(base_url: str, timeout: float = 10.0) -> Transport:
    """A transport over real HTTP to ``base_url`` (e.g. ``http://127.0.0.1:8000``)."""
    import requests

    session = requests.Session()

    def post(path: str, body: bytes) -> tuple[int, str]:
        resp = session.post(base_url.rstrip("/") + path, data=body,
                            headers={"Content-Type": "text/xml"}, timeout=timeout)
        return resp.status_code, resp.text
    return post


def reply_text(reply: dict | None) -> str:
    """A reply's text for people: Content, or an article's title and URL; "" for success."""
    if reply is None:
        return ""
    if reply.get("MsgType") == "news":
        item = reply.get("Articles", {}).get("item", {})
        return f"[图文] {item.get('Title', '')}\n{item.get('Description', '')}\n{item.get('Url', '')}"
    if reply.get("MsgType") == "transfer_customer_service":
        return "[转人工客服]"
    return reply.get("Content", "")
