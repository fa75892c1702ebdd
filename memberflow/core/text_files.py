"""Text files people export from spreadsheets: read in the encoding they were saved in, or
refused with how to convert them."""

import codecs
from pathlib import Path

# What spreadsheets save a CSV as: UTF-8 (Excel's "CSV UTF-8" adds a BOM), UTF-16 with a BOM
# (Excel's "Unicode text"), and Windows-1252 (Excel's plain "CSV" on Windows, in the West).
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
SAVE_AS_UTF8 = (
    'save it as "CSV UTF-8" (Excel: File > Save As; LibreOffice: Character set: Unicode (UTF-8))'
)


class UnreadableFile(ValueError):
    """The file is no text memberflow can read; says what it is and how to convert it."""


def read_text(path: Path) -> tuple[str, str]:
    """The file's text and the encoding it was read in (UTF-8, UTF-16 or Windows-1252)."""
    raw = path.read_bytes()
    if raw.startswith(b"PK\x03\x04"):
        raise UnreadableFile(
            f"{path}: is a spreadsheet workbook (.xlsx), not a CSV: {SAVE_AS_UTF8}"
        )
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return raw.decode(encoding), encoding
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as not_utf8:
        line = raw[: not_utf8.start].count(b"\n") + 1
        byte = raw[not_utf8.start]
    try:
        return raw.decode("cp1252"), "windows-1252"  # a spreadsheet's export: é is 0xE9
    except UnicodeDecodeError:
        raise UnreadableFile(
            f"{path}: line {line} is neither UTF-8 nor Windows-1252 (byte 0x{byte:02X}): "
            f"{SAVE_AS_UTF8}, or convert it: iconv -f <its encoding> -t UTF-8 {path.name} "
            f"> {path.stem}-utf8.csv"
        ) from None
