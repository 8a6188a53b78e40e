"""The VERI*FACTU QR image of an invoice, drawn with ``segno`` (ISO/IEC 18004).

Kept out of ``domain`` because it needs a third-party package. The AEAT QR document
(*Detalle de las especificaciones técnicas del código QR de la factura*, v0.5.0) asks for
error-correction level M and a printed size between 30x30 and 40x40 mm; the URL comes
from :func:`crm_ledger.domain.verifactu.qr_url`. segno is told not to raise the level
(``boost_error=False``) so the symbol is exactly level M. ``size_mm`` is the side of the
symbol itself; the 4-module quiet zone that ISO/IEC 18004 requires is added around it.
"""

from __future__ import annotations

import io
from decimal import Decimal

import segno

ERROR_LEVEL = "m"
QUIET_ZONE = 4  # modules, ISO/IEC 18004
MIN_MM, MAX_MM = Decimal(30), Decimal(40)


def qr_code(url: str) -> segno.QRCode:
    """`url` as a level-M QR code (any version, byte mode for the URL's characters)."""
    return segno.make_qr(url, error=ERROR_LEVEL, boost_error=False)


def qr_png(url: str, *, scale: int = 10) -> bytes:
    """PNG bytes of the QR for `url`, `scale` pixels per module, quiet zone included."""
    out = io.BytesIO()
    qr_code(url).save(out, kind="png", scale=scale, border=QUIET_ZONE)
    return out.getvalue()


def qr_svg(url: str, *, size_mm: Decimal = Decimal(35)) -> str:
    """SVG text of the QR for `url`, the symbol `size_mm` wide (30-40 mm) plus quiet zone."""
    if not MIN_MM <= size_mm <= MAX_MM:
        raise ValueError(f"the QR must be printed 30-40 mm wide, not {size_mm} mm")
    code = qr_code(url)
    modules = int(code.symbol_size(border=0)[0])
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        scale=float(size_mm / modules),
        border=QUIET_ZONE,
        unit="mm",
        xmldecl=False,
    )
    return out.getvalue().decode("utf-8")
