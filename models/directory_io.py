"""The staff spreadsheet of 近邻娘家 service points: reading, validating and writing it.

One sheet (CSV or XLSX), a header row, one point per row. Headers are Chinese (English field
names are accepted too); see :data:`COLUMNS`. A row that fails any check is reported as
:class:`RowError` (row number as the spreadsheet shows it, the column's header, a reason in
Chinese); the import itself (``models.directory.import_points``) is all-or-nothing.

Coordinates are GCJ-02 degrees (copy them from Tencent Maps or Amap). The seed file
``models/data/service_points.csv`` uses the same format.

A file may hold at most :data:`MAX_ROWS` points (read lazily; reading stops past the limit).
Text cells are written through :func:`models.spreadsheet.safe_cell` (no formulas), and text
that would run as a formula is refused on import (电话 excepted: its own rule allows only
digits, ``+``, ``-`` ...).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from sqlalchemy import select

from models.base import Base
from bot.core.geo import (COUNTY_LAT, COUNTY_LNG, BadCoordinates, InvalidCoordinates,
                        check_coordinates)
from models.directory_synonyms import PLATFORMS, synonyms
from models.spreadsheet import formula_like, safe_row, unquote_cell

#: (field, header) in file order. The header is what staff see in the spreadsheet.
COLUMNS: list[tuple[str, str]] = [
    ("name", "名称"), ("kind", "类型"), ("platform", "平台"), ("town", "乡镇"),
    ("village", "村社区"), ("address", "地址"), ("lat", "纬度"), ("lng", "经度"),
    ("approximate", "大致位置"), ("phone", "电话"), ("hours", "开放时间"),
    ("services", "服务"), ("description", "简介"), ("active", "启用"),
]
HEADERS = {field: header for field, header in COLUMNS}
REQUIRED = ("name", "lat", "lng")
#: Longest text per field, in characters (the column sizes in models.directory).
MAX_LEN = {"name": 128, "kind": 32, "platform": 32, "town": 16, "village": 64, "address": 256,
           "phone": 64, "hours": 128, "services": 512, "description": 2000}
#: How far outside 永春县's extent (degrees, ~30 km) a point may lie before it is refused.
COUNTY_MARGIN = 0.3
#: Most points (non-blank rows after the header) one file may hold.
MAX_ROWS = 5000
#: Largest unpacked size of an XLSX (bytes). 5,000 rows are a few MB; a bigger file has far too
#: many rows (or is a zip bomb) and is refused before openpyxl parses it (a sheet without a
#: ``<dimension>`` element is read through once just to open it).
MAX_XLSX_BYTES = 64 * 1024 * 1024

_HEADER_ALIASES = {"村": "village", "社区": "village", "村/社区": "village", "类别": "kind",
                   "镇": "town", "乡镇街道": "town", "纬度lat": "lat", "经度lng": "lng",
                   "服务内容": "services", "标签": "services", "电话号码": "phone",
                   "联系电话": "phone", "时间": "hours", "是否启用": "active",
                   "坐标为大致位置": "approximate"}
_TRUE = {"是", "1", "true", "yes", "y", "对", "启用", "√"}
_FALSE = {"否", "0", "false", "no", "n", "不", "停用", "×"}
_TAG_SPLIT = re.compile(r"[、,，;；/|\s]+")
_PHONE_OK = re.compile(r"^[0-9０-９+\-－ ()（）、,，/转]*$")


class PointFileError(ValueError):
    """The file as a whole cannot be read (format, encoding, missing columns); Chinese text."""


@dataclass(frozen=True)
class RowError:
    """One problem: ``row`` is the spreadsheet's row number (header = 1), ``column`` a header."""

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"第{self.row}行「{self.column}」：{self.reason}"


def _cell(value: Any) -> str:
    """A cell as text: Excel numbers lose a trailing ``.0`` (phone numbers stored as numbers);
    our own export's ``'`` before a formula character is removed (see models.spreadsheet)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e6:
        return str(int(value))
    return unquote_cell(str(value).strip())


def _field_for(header: str) -> str | None:
    h = re.sub(r"[（(].*?[)）]", "", header or "").replace(" ", "").strip().lower()
    for field, cn in COLUMNS:
        if h in (cn, field):
            return field
    return _HEADER_ALIASES.get(h)


def _read_rows(path: Path) -> Iterator[list[Any]]:
    """The file's rows, one at a time (XLSX in openpyxl's read-only mode: never all in memory)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        import zipfile

        from openpyxl import load_workbook

        try:
            with zipfile.ZipFile(path) as zf:
                unpacked = sum(item.file_size for item in zf.infolist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise PointFileError(f"无法读取Excel文件：{exc}") from None
        if unpacked > MAX_XLSX_BYTES:
            raise PointFileError(f"Excel文件太大（解压后 {unpacked // 2**20} MB）：一次最多导入 "
                                 f"{MAX_ROWS} 处服务点，请分成几个文件分别导入")
        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
            raise PointFileError(f"无法读取Excel文件：{exc}") from None
        try:
            if not wb.worksheets:
                raise PointFileError("无法读取Excel文件：里面没有工作表")
            for row in wb.worksheets[0].iter_rows(values_only=True):
                yield list(row)
        except PointFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged sheet fails while it is read
            raise PointFileError(f"无法读取Excel文件：{exc}") from None
        finally:
            wb.close()
        return
    if suffix in (".csv", ".txt"):
        raw = path.read_bytes()
        for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise PointFileError("CSV文件编码无法识别，请另存为 UTF-8 的 CSV")
        try:
            yield from csv.reader(io.StringIO(text, newline=""))
        except csv.Error as exc:  # a NUL byte, a field over the csv module's limit ...
            raise PointFileError(f"CSV文件格式有误：{exc}") from None
        return
    raise PointFileError(f"不支持的文件类型「{path.suffix}」：请用 .csv 或 .xlsx")


def read_table(path: str | Path, *, max_rows: int | None = None) -> list[tuple[int, dict[str, str]]]:
    """Read ``path`` (CSV or XLSX, first sheet) into ``[(row_number, {field: text})]``.

    Blank rows are skipped. Raises :class:`PointFileError` when the file cannot be read, has no
    header, lacks a required column (名称, 纬度, 经度), or has more than ``max_rows`` (default
    :data:`MAX_ROWS`) points: reading stops at the first row past the limit.
    """
    max_rows = MAX_ROWS if max_rows is None else max_rows
    path = Path(path)
    if not path.exists():
        raise PointFileError(f"找不到文件：{path}")
    rows = _read_rows(path)
    header = next(rows, None)
    if header is None:
        raise PointFileError("文件是空的：第1行应为表头（名称、乡镇、纬度、经度……）")
    fields = [_field_for(_cell(h)) for h in header]
    missing = [HEADERS[f] for f in REQUIRED if f not in fields]
    if missing:
        raise PointFileError("缺少必需的列：" + "、".join(missing) + "（第1行应为表头）")
    out = []
    for number, row in enumerate(rows, start=2):
        values = {f: _cell(v) for f, v in zip(fields, row) if f}
        if any(values.values()):
            if len(out) >= max_rows:
                rows.close()
                raise PointFileError(f"表格超过 {max_rows} 行：一次最多导入 {max_rows} 处服务点"
                                     f"（不含表头），请分成几个文件分别导入")
            out.append((number, values))
    return out


def _bool(text: str, default: bool) -> bool | None:
    t = text.strip().lower()
    if not t:
        return default
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    return None


def _float(text: str) -> float | None:
    try:
        return float(text.replace("，", ".").strip())
    except ValueError:
        return None


def validate_row(number: int, raw: dict[str, str]) -> tuple[dict[str, Any], list[RowError]]:
    """Check one row; return the clean values (model field -> value) and its errors.

    Towns may be written short (桃城 → 桃城镇); platforms may end in 平台; tags may be separated
    by 、 , ； / or spaces and are stored joined by 、.
    """
    errors: list[RowError] = []
    syn = synonyms()

    def err(field: str, reason: str) -> None:
        errors.append(RowError(number, HEADERS[field], reason))

    v: dict[str, Any] = {}
    for field, _ in COLUMNS:
        if field in ("lat", "lng", "approximate", "active"):
            continue
        text = (raw.get(field) or "").strip()
        if field == "services":
            text = "、".join(t for t in _TAG_SPLIT.split(text) if t)
        if len(text) > MAX_LEN[field]:
            err(field, f"太长（{len(text)}字，最多{MAX_LEN[field]}字）")
        elif field != "phone" and formula_like(text):
            err(field, f"「{text[:20]}」以「{text[0]}」开头，Excel 会把它当作公式运行；"
                       f"请去掉开头的「{text[0]}」")
        v[field] = text
    if not v["name"]:
        err("name", "不能为空")
    if v["town"]:
        town = syn.town_for(v["town"])
        if town is None:
            err("town", f"「{v['town']}」不是永春县的乡镇（如 桃城镇、坑仔口镇）；不知道可留空")
        else:
            v["town"] = town
    platform = v["platform"].removesuffix("平台")
    if platform and platform not in PLATFORMS:
        err("platform", f"「{v['platform']}」不是四类平台之一（{'、'.join(PLATFORMS)}）；可留空")
    v["platform"] = platform
    if v["phone"] and not _PHONE_OK.match(v["phone"]):
        err("phone", f"「{v['phone']}」不像电话号码（只能有数字、-、括号、空格、“转”）")
    lat, lng = _float(raw.get("lat", "")), _float(raw.get("lng", ""))
    if lat is None:
        err("lat", "不能为空" if not raw.get("lat") else f"「{raw.get('lat')}」不是数字")
    if lng is None:
        err("lng", "不能为空" if not raw.get("lng") else f"「{raw.get('lng')}」不是数字")
    if lat is not None and lng is not None:
        for field, reason in coordinate_errors(lat, lng):
            err(field, reason)
    v["lat"], v["lng"] = lat, lng
    for field, default in (("approximate", False), ("active", True)):
        value = _bool(raw.get(field, ""), default)
        if value is None:
            err(field, f"「{raw.get(field)}」请填 是 或 否")
        v[field] = bool(value) if value is not None else default
    return v, errors


def coordinate_errors(lat: float, lng: float) -> list[tuple[str, str]]:
    """Problems of a point's GCJ-02 position as ``[(field, Chinese reason)]``, each against the
    column at fault (``"lat"``/``"lng"``): out of range (±90°/±180°), 0,0, swapped, outside
    China, or more than :data:`COUNTY_MARGIN` degrees outside 永春县. Empty when usable."""
    hint = "请填写GCJ-02坐标，如 纬度25.32、经度118.29"
    try:
        lat, lng = check_coordinates(lat, lng)
    except InvalidCoordinates as exc:
        names = {"lat": "纬度应在-90到90之间", "lng": "经度应在-180到180之间"}
        value = {"lat": lat, "lng": lng}
        return [(f, f"「{value[f]}」超出范围（{names[f]}）。{hint}") for f in exc.fields]
    except BadCoordinates as exc:
        return [("lat", exc.reason + hint)]
    out = []
    margin = COUNTY_MARGIN
    if not COUNTY_LAT[0] - margin <= lat <= COUNTY_LAT[1] + margin:
        out.append(("lat", f"纬度{lat}不在永春县附近（约北纬25.2–25.6），请核对"))
    if not COUNTY_LNG[0] - margin <= lng <= COUNTY_LNG[1] + margin:
        out.append(("lng", f"经度{lng}不在永春县附近（约东经117.7–118.5），请核对"))
    return out


def validate_table(rows: Iterable[tuple[int, dict[str, str]]]) -> tuple[list[dict[str, Any]], list[RowError]]:
    """Validate every row; also refuse a (名称, 乡镇) pair that appears twice in the file."""
    clean, errors, seen = [], [], {}
    for number, raw in rows:
        values, row_errors = validate_row(number, raw)
        key = (values["name"], values["town"])
        if values["name"] and key in seen:
            row_errors.append(RowError(number, HEADERS["name"],
                                       f"与第{seen[key]}行重复（同一乡镇下名称相同）"))
        seen.setdefault(key, number)
        errors.extend(row_errors)
        clean.append(values)
    return clean, errors


def _form_cells(values: Mapping[str, Any]) -> dict[str, str]:
    return {field: _cell(values.get(field)) for field, _ in COLUMNS}


def point_field_errors(values: Mapping[str, Any], *, session=None,
                       point_id: int | None = None) -> dict[str, str]:
    """Check one point's fields as the console form holds them, with the spreadsheet's rules.

    ``values``: model field -> value (``name``, ``town``, ``lat``, ``lng``, ``phone`` ...; text,
    numbers, bools or None; missing keys count as empty). Checks: 名称 required; 乡镇 one of
    the 22 (short names accepted, empty allowed: the seed article names no town for many
    points); 平台 one of four; 电话 format; 纬度/经度 required, within ±90°/±180°, not 0,0 or
    swapped, near 永春县 (GCJ-02 sanity); text lengths. With ``session``, also that no other
    point (``point_id`` excluded) has the same 名称 + 乡镇.

    Returns ``{field: Chinese message}``; empty when the point may be saved. Save the values
    from :func:`clean_point_fields` (桃城 → 桃城镇, tags joined by 、). Never raises.
    """
    clean, errors = validate_row(0, _form_cells(values))
    fields = {header: field for field, header in COLUMNS}
    out: dict[str, str] = {}
    for e in errors:
        field = fields[e.column]
        out[field] = out[field] + "；" + e.reason if field in out else e.reason
    if session is not None and "name" not in out and "town" not in out:
        # the table by name: models.directory imports this module, not the reverse
        points = Base.metadata.tables["service_points"].c
        stmt = select(points.id).where(points.name == clean["name"], points.town == clean["town"])
        if point_id is not None:
            stmt = stmt.where(points.id != point_id)
        if session.scalars(stmt.limit(1)).first() is not None:
            out["name"] = "同一乡镇下已有同名的服务点"
    return out


def clean_point_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values to store for fields that passed :func:`point_field_errors`: canonical town
    (桃城 → 桃城镇, ``""`` when unknown), platform without 平台, tags joined by 、, floats for
    纬度/经度 (GCJ-02 degrees), bools for 大致位置/启用 (defaults 否/是)."""
    clean, _ = validate_row(0, _form_cells(values))
    return clean


def to_cells(values: dict[str, Any]) -> list[Any]:
    """One point's values in :data:`COLUMNS` order, as spreadsheet cells (是/否 for flags)."""
    out = []
    for field, _ in COLUMNS:
        value = values.get(field)
        if isinstance(value, bool):
            value = "是" if value else "否"
        out.append("" if value is None else value)
    return out


def write_table(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` (dicts keyed by field) to ``path``; the extension picks CSV or XLSX.

    CSV is written as UTF-8 with a BOM so Excel opens it correctly. Returns the row count.
    Raises :class:`PointFileError` (Chinese text) for an unknown extension, a missing folder,
    or a file that cannot be written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise PointFileError(f"不支持的文件类型「{path.suffix}」：请用 .csv 或 .xlsx")
    if not path.parent.is_dir():
        raise PointFileError(f"文件夹不存在：{path.parent}（请先建好文件夹，或换一个路径）")
    if path.is_dir():
        raise PointFileError(f"「{path}」是一个文件夹，请给出文件名，如 名录.xlsx")
    try:
        return _write(path, suffix, records)
    except OSError as exc:  # no permission, disk full, file open in Excel on Windows ...
        raise PointFileError(f"无法写入「{path}」：{exc.strerror or exc}") from None


def _write(path: Path, suffix: str, records: Iterable[dict[str, Any]]) -> int:
    header = [h for _, h in COLUMNS]
    rows = [safe_row(to_cells(r)) for r in records]
    if suffix == ".csv":
        with open(path, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
    else:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "近邻娘家"
        ws.append(header)
        for row in rows:
            ws.append(row)
        wb.save(path)
    return len(rows)
