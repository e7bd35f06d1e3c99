"""The WeChat push protocol at the edge: signatures, AES, and safe XML parsing.

Implements 接入指南 (URL verification), 消息加解密说明 (safe/compat modes) and the parsing of
接收普通消息 / 接收事件推送. AES uses wechatpy 1.8.18's ``PrpCrypto``; everything around it is
ours because wechatpy parses the outer XML before checking the signature and, on malformed or
hostile input, raises plain Python errors (KeyError, TypeError, ExpatError, binascii.Error,
ValueError, IndexError, struct.error, UnicodeDecodeError, AssertionError) rather than one of its
own. Untrusted XML is parsed with defusedxml (no entities, no DTDs).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import time
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from bot.wechat.replies import cdata

#: Largest push body accepted, in bytes; larger gets 413 before anything is parsed.
MAX_BODY_BYTES = 64 * 1024

_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class ProtocolError(Exception):
    """The push could not be read (bad XML, bad ciphertext, wrong AppID ...). Answer ``success``."""


class SignatureError(ProtocolError):
    """A signature is missing or wrong. Answer 403, store nothing."""


def sha1_signature(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted parts joined (接入指南; msg_signature likewise)."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def check_signature(token: str, signature: str | None, timestamp: str | None,
                    nonce: str | None) -> None:
    """Verify ``signature = sha1(sorted([token, timestamp, nonce]))`` in constant time.

    Raises :class:`SignatureError` when any part is missing or it does not match.
    """
    if not signature or not timestamp or not nonce:
        raise SignatureError("missing signature, timestamp or nonce")
    expected = sha1_signature(token, timestamp, nonce)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode("utf-8", "replace")):
        raise SignatureError("signature mismatch")


#: Deepest nesting of elements accepted below ``<xml>`` (WeChat's deepest is 3: SendPicsInfo →
#: PicList → item).
MAX_DEPTH = 8


def element_to_dict(elem: Element, depth: int = 0) -> dict:
    """Children of ``elem`` as a dict: leaf -> text (``""`` if empty), element -> dict,
    repeated tags -> list. Raises :class:`ProtocolError` below :data:`MAX_DEPTH` levels."""
    if depth >= MAX_DEPTH:
        raise ProtocolError(f"elements nested deeper than {MAX_DEPTH}")
    out: dict = {}
    for child in elem:
        value: object = element_to_dict(child, depth + 1) if len(child) else (child.text or "")
        if child.tag in out:
            prev = out[child.tag]
            out[child.tag] = prev + [value] if isinstance(prev, list) else [prev, value]
        else:
            out[child.tag] = value
    return out


def parse_xml(body: bytes | str) -> dict:
    """Parse a push body (``<xml>...</xml>``) into a dict of its fields.

    Control characters XML 1.0 forbids are removed first, so a stray one in her text does not
    lose the message. Raises :class:`ProtocolError` for anything that is not such a document.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = _ILLEGAL_XML.sub("", text)
    try:
        root = fromstring(text)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise ProtocolError(f"unreadable XML: {type(exc).__name__}") from None
    if root.tag != "xml":
        raise ProtocolError(f"root element is <{root.tag[:20]}>, not <xml>")
    return element_to_dict(root)


@dataclass(frozen=True)
class AesKey:
    """One EncodingAESKey (43 characters) and the AppID it belongs to."""

    encoding_aes_key: str
    app_id: str

    @property
    def key(self) -> bytes:
        return base64.b64decode(self.encoding_aes_key + "=")


def decrypt(keys: list[AesKey], ciphertext: str) -> tuple[str, AesKey]:
    """Decrypt ``Encrypt`` with the first key that works (current key, then previous).

    Returns the plaintext XML and the key that worked (reply with the same one). Raises
    :class:`ProtocolError` if no key decrypts it to a message for our AppID.
    """
    from wechatpy.crypto import PrpCrypto

    for k in keys:
        try:
            plain = PrpCrypto(k.key).decrypt(ciphertext, k.app_id)
        except Exception:  # noqa: BLE001 - wechatpy raises plain errors on bad input
            continue
        if isinstance(plain, bytes):
            plain = plain.decode("utf-8", errors="replace")
        return plain, k
    raise ProtocolError("no EncodingAESKey decrypts this message (or the AppID differs)")


def encrypt(key: AesKey, token: str, xml: str, nonce: str, timestamp: str | None = None) -> str:
    """Encrypt a reply for safe/compat mode: ``<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/>``."""
    from wechatpy.crypto import PrpCrypto

    timestamp = timestamp or str(int(time.time()))
    enc = PrpCrypto(key.key).encrypt(xml, key.app_id)
    enc = enc.decode() if isinstance(enc, bytes) else enc
    sig = sha1_signature(token, timestamp, nonce, enc)
    return (f"<xml><Encrypt>{cdata(enc)}</Encrypt><MsgSignature>{cdata(sig)}</MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>")


def decrypt_push(token: str, keys: list[AesKey], outer: dict, msg_signature: str | None,
                 timestamp: str, nonce: str) -> tuple[str, AesKey]:
    """Check ``msg_signature`` over the outer ``Encrypt`` and decrypt it (消息加解密说明).

    Returns the inner XML text (parse it with :func:`parse_xml`) and the key used. Raises
    :class:`SignatureError` for a bad or missing msg_signature and :class:`ProtocolError` for
    anything unreadable.
    """
    encrypted = outer.get("Encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise ProtocolError("encrypted push without <Encrypt>")
    if not msg_signature:
        raise SignatureError("missing msg_signature")
    expected = sha1_signature(token, timestamp, nonce, encrypted)
    if not hmac.compare_digest(expected.encode(), msg_signature.strip().lower().encode("utf-8", "replace")):
        raise SignatureError("msg_signature mismatch")
    if not keys:
        raise ProtocolError("encrypted push but no EncodingAESKey configured")
    try:
        return decrypt(keys, encrypted)
    except (binascii.Error, struct.error, ValueError) as exc:
        raise ProtocolError(f"bad ciphertext: {type(exc).__name__}") from None
