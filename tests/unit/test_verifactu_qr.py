"""The QR image: level M, the size the AEAT asks for, valid PNG and SVG (needs segno)."""

from __future__ import annotations

import re
import struct
from datetime import date
from decimal import Decimal

import pytest

from crm_ledger.domain.verifactu import qr_url
from crm_ledger.verifactu_qr import qr_code, qr_png, qr_svg

URL = qr_url(
    issuer_tax_id="89890001K",
    number="12345678&G33",
    issue_date=date(2024, 1, 1),
    total=Decimal("241.4"),
)


def test_code_is_level_m_byte_mode() -> None:
    """The symbol uses error correction M exactly (not boosted) and byte mode."""
    code = qr_code(URL)
    assert ("M", "byte") == (code.error, code.mode)


def test_png_has_the_expected_pixel_size() -> None:
    """A real PNG whose side is (modules + 2 x 4 quiet zone) x scale pixels."""
    png = qr_png(URL, scale=3)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])  # IHDR
    side = (qr_code(URL).symbol_size(border=0)[0] + 8) * 3
    assert (side, side) == (width, height)


def test_svg_symbol_is_35_mm_by_default() -> None:
    """The symbol is 35 mm; the declared width adds the quiet zone of 4 modules per side."""
    svg = qr_svg(URL)
    modules = qr_code(URL).symbol_size(border=0)[0]
    match = re.search(r'width="([0-9.]+)mm"', svg)
    assert match is not None
    expected = 35 * (modules + 8) / modules
    assert float(match.group(1)) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("size", [Decimal("29.9"), Decimal("40.1")])
def test_svg_refuses_sizes_outside_30_to_40_mm(size: Decimal) -> None:
    """Sizes outside the 30-40 mm the AEAT asks for are refused."""
    with pytest.raises(ValueError, match="30-40 mm"):
        qr_svg(URL, size_mm=size)
