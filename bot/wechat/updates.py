"""One typed value for everything WeChat pushes: :class:`Update`.

Built from the decrypted XML's fields (a flat dict of strings, with nested tables for
ScanCodeInfo, SendPicsInfo, SendLocationInfo, List and PublishEventInfo). Covers every message
and event in WeChat's 接收普通消息 / 接收事件推送 / 模板消息 / 群发 / 订阅通知 / 发布能力 docs, including
the ones wechatpy 1.8.18 leaves as ``UnknownMessage`` (subscribe_msg_*, PUBLISHJOBFINISH,
view_miniprogram). Handlers see only this value, never XML, ciphertext or Flask.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MESSAGE_TYPES = {"text", "image", "voice", "video", "shortvideo", "location", "link", "file"}


#: The longest FromUserName (openid) accepted; WeChat's are 28 characters, columns hold 64.
MAX_OPENID_CHARS = 64


def _f(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _i(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Location:
    """A position in GCJ-02 degrees (WeChat's map datum); ``label`` is WeChat's address text."""

    lat: float
    lng: float
    scale: int | None = None
    label: str = ""
    poiname: str = ""
    precision: float | None = None


@dataclass(frozen=True)
class Update:
    """What WeChat pushed, typed.

    ``msg_type`` is WeChat's MsgType (``text``, ``event`` ...); ``event`` is the Event in lower
    case (``subscribe``, ``scan``, ``click``, ``templatesendjobfinish`` ...) or ``""`` for
    messages. ``openid`` is FromUserName; ``account`` is ToUserName (the gh_ id).
    ``create_time`` is WeChat's CreateTime in Unix seconds. ``fields`` keeps every raw field.
    """

    msg_type: str
    openid: str
    account: str = ""
    create_time: int = 0
    event: str = ""
    event_key: str = ""
    msg_id: str = ""
    content: str = ""
    media_id: str = ""
    pic_url: str = ""
    format: str = ""
    recognition: str = ""
    thumb_media_id: str = ""
    title: str = ""
    description: str = ""
    url: str = ""
    location: Location | None = None
    ticket: str = ""
    scan_type: str = ""
    scan_result: str = ""
    pic_count: int = 0
    pic_md5s: tuple[str, ...] = ()
    status: str = ""
    total_count: int | None = None
    filter_count: int | None = None
    sent_count: int | None = None
    error_count: int | None = None
    subscribe_msgs: tuple[dict, ...] = ()
    publish_info: dict = field(default_factory=dict)
    fields: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_event(self) -> bool:
        return self.msg_type == "event"

    @property
    def is_message(self) -> bool:
        """True for what she sent herself (text, image, voice, location ...), not events."""
        return self.msg_type != "event"

    @property
    def kind(self) -> str:
        """``"text"``, ``"location"`` ... for messages; ``"event.click"`` ... for events."""
        return f"event.{self.event}" if self.is_event else self.msg_type

    @property
    def scene(self) -> str:
        """The parametric QR scene: ``qrscene_`` stripped on subscribe, EventKey on SCAN."""
        if self.event == "subscribe" and self.event_key.startswith("qrscene_"):
            return self.event_key[len("qrscene_"):]
        if self.event == "scan":
            return self.event_key
        return ""

    @property
    def text(self) -> str:
        """What she said as text: Content, or a voice message's Recognition."""
        return self.content or self.recognition

    def dedup_key(self) -> str:
        """WeChat retry de-duplication key (被动回复: 消息排重).

        Messages: ``FromUserName + MsgId``. Events: ``FromUserName + CreateTime + Event +
        EventKey`` (MsgID for the *JOBFINISH events, which carry one).
        """
        if self.is_message and self.msg_id:
            return f"m:{self.openid}:{self.msg_id}"
        return f"e:{self.openid}:{self.create_time}:{self.event}:{self.event_key}:{self.msg_id}"


# A message as WeChat writes it: ToUserName, FromUserName, CreateTime, MsgType first, MsgId
# last (both patterns anchored, so their cost does not grow with what she wrote).
def _nested(fields: dict, name: str) -> dict:
    value = fields.get(name)
    return value if isinstance(value, dict) else {}


def _location_from(lat: Any, lng: Any, **extra: Any) -> Location | None:
    lat_f, lng_f = _f(lat), _f(lng)
    if lat_f is None or lng_f is None:
        return None
    return Location(lat=lat_f, lng=lng_f, **extra)


def _subscribe_msgs(fields: dict) -> tuple[dict, ...]:
    lst = fields.get("List")
    items = lst if isinstance(lst, list) else [lst] if isinstance(lst, dict) else []
    out = []
    for item in items:
        if isinstance(item, dict):
            out.append({k: _s(v) for k, v in item.items() if isinstance(v, str)})
    return tuple(out)


def update_from_fields(fields: dict) -> Update:
    """Build an :class:`Update` from parsed XML fields.

    Raises ``ValueError`` when MsgType or FromUserName is missing, or FromUserName is longer
    than :data:`MAX_OPENID_CHARS` (no openid column could hold it): the caller answers
    ``success`` and logs it.
    """
    msg_type = _s(fields.get("MsgType")).strip().lower()
    openid = _s(fields.get("FromUserName")).strip()
    if not msg_type or not openid:
        raise ValueError("push without MsgType or FromUserName")
    if len(openid) > MAX_OPENID_CHARS:  # WeChat's are 28: forged or broken, never stored
        raise ValueError(f"FromUserName of {len(openid)} characters (at most {MAX_OPENID_CHARS})")
    event = _s(fields.get("Event")).strip().lower() if msg_type == "event" else ""
    kw: dict[str, Any] = dict(
        msg_type=msg_type, openid=openid, account=_s(fields.get("ToUserName")),
        create_time=_i(fields.get("CreateTime")) or 0, event=event,
        event_key=_s(fields.get("EventKey")),
        msg_id=(_s(fields.get("MsgId")) or _s(fields.get("MsgID"))).strip(),
        content=_s(fields.get("Content")), media_id=_s(fields.get("MediaId")),
        pic_url=_s(fields.get("PicUrl")), format=_s(fields.get("Format")),
        recognition=_s(fields.get("Recognition")), thumb_media_id=_s(fields.get("ThumbMediaId")),
        title=_s(fields.get("Title")), description=_s(fields.get("Description")),
        url=_s(fields.get("Url")), ticket=_s(fields.get("Ticket")),
        status=_s(fields.get("Status")), fields=fields,
    )
    if msg_type == "location":
        kw["location"] = _location_from(fields.get("Location_X"), fields.get("Location_Y"),
                                        scale=_i(fields.get("Scale")), label=_s(fields.get("Label")))
    elif event == "location":
        kw["location"] = _location_from(fields.get("Latitude"), fields.get("Longitude"),
                                        precision=_f(fields.get("Precision")))
    elif event == "location_select":
        info = _nested(fields, "SendLocationInfo")
        kw["location"] = _location_from(info.get("Location_X"), info.get("Location_Y"),
                                        scale=_i(info.get("Scale")), label=_s(info.get("Label")),
                                        poiname=_s(info.get("Poiname")))
    elif event in ("scancode_push", "scancode_waitmsg"):
        info = _nested(fields, "ScanCodeInfo")
        kw["scan_type"], kw["scan_result"] = _s(info.get("ScanType")), _s(info.get("ScanResult"))
    elif event in ("pic_sysphoto", "pic_photo_or_album", "pic_weixin"):
        info = _nested(fields, "SendPicsInfo")
        kw["pic_count"] = _i(info.get("Count")) or 0
        pics = info.get("PicList")
        items = pics.get("item") if isinstance(pics, dict) else None
        items = items if isinstance(items, list) else [items] if items else []
        kw["pic_md5s"] = tuple(_s(i.get("PicMd5Sum")) for i in items if isinstance(i, dict))
    elif event == "masssendjobfinish":
        kw["total_count"] = _i(fields.get("TotalCount"))
        kw["filter_count"] = _i(fields.get("FilterCount"))
        kw["sent_count"] = _i(fields.get("SentCount"))
        kw["error_count"] = _i(fields.get("ErrorCount"))
    elif event.startswith("subscribe_msg_"):
        kw["subscribe_msgs"] = _subscribe_msgs(_nested(fields, "SubscribeMsgPopupEvent")
                                               or _nested(fields, "SubscribeMsgChangeEvent")
                                               or _nested(fields, "SubscribeMsgSentEvent")
                                               or fields)
    elif event == "publishjobfinish":
        kw["publish_info"] = {k: v for k, v in _nested(fields, "PublishEventInfo").items()}
    return Update(**kw)
