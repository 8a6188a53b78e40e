"""VERI*FACTU records: the agency's published huella vectors, the chain check, the QR URL.

Known-answer vectors are the worked examples of the AEAT document *Detalle de las
especificaciones técnicas para generación de la huella o hash de los registros de
facturación* (v0.1.2, §6): a first alta, a second alta chained to it, and an anulación
chained to the second.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_ledger.domain.verifactu import (
    ALTA_FIELDS,
    ANULACION_FIELDS,
    INVOICE_TYPES,
    ChainBreak,
    VerifactuError,
    amount_text,
    build_alta,
    build_anulacion,
    hash_input,
    huella,
    qr_url,
    record,
    spanish_time,
    verify_chain,
)

CET = timezone(timedelta(hours=1))

# AEAT huella document §6, case 1: first alta of the chain.
CASE1_INPUT = (
    "IDEmisorFactura=89890001K&NumSerieFactura=12345678/G33&FechaExpedicionFactura=01-01-2024"
    "&TipoFactura=F1&CuotaTotal=12.35&ImporteTotal=123.45&Huella="
    "&FechaHoraHusoGenRegistro=2024-01-01T19:20:30+01:00"
)
CASE1_HUELLA = "3C464DAF61ACB827C65FDA19F352A4E3BDC2C640E9E9FC4CC058073F38F12F60"
# Case 2: a second alta chained to case 1.
CASE2_INPUT = (
    "IDEmisorFactura=89890001K&NumSerieFactura=12345679/G34&FechaExpedicionFactura=01-01-2024"
    "&TipoFactura=F1&CuotaTotal=12.35&ImporteTotal=123.45"
    f"&Huella={CASE1_HUELLA}&FechaHoraHusoGenRegistro=2024-01-01T19:20:35+01:00"
)
CASE2_HUELLA = "F7B94CFD8924EDFF273501B01EE5153E4CE8F259766F88CF6ACB8935802A2B97"
# Case 3: an anulación of the case 2 invoice, chained to case 2.
CASE3_INPUT = (
    "IDEmisorFacturaAnulada=89890001K&NumSerieFacturaAnulada=12345679/G34"
    f"&FechaExpedicionFacturaAnulada=01-01-2024&Huella={CASE2_HUELLA}"
    "&FechaHoraHusoGenRegistro=2024-01-01T19:20:40+01:00"
)
CASE3_HUELLA = "177547C0D57AC74748561D054A9CEC14B4C4EA23D1BEFD6F2E69E3A388F90C68"


def alta(number: str, previous: str, second: int, /, **overrides: Any) -> dict[str, str]:
    """An alta of the agency's example issuer, generated at 19:20:`second` CET."""
    args: dict[str, Any] = {
        "issuer_tax_id": "89890001K",
        "number": number,
        "issue_date": date(2024, 1, 1),
        "invoice_type": "F1",
        "tax_total": Decimal("12.35"),
        "total": Decimal("123.45"),
        "previous_huella": previous,
        "generated_at": datetime(2024, 1, 1, 19, 20, second, tzinfo=CET),
    }
    return build_alta(**(args | overrides))


def agency_chain() -> list[dict[str, Any]]:
    """The three records of the agency's examples, built with this module."""
    first = record(alta("12345678/G33", "", 30))
    second = record(alta("12345679/G34", first["huella"], 35))
    third = record(
        build_anulacion(
            issuer_tax_id="89890001K",
            number="12345679/G34",
            issue_date=date(2024, 1, 1),
            previous_huella=second["huella"],
            generated_at=datetime(2024, 1, 1, 19, 20, 40, tzinfo=CET),
        )
    )
    return [first, second, third]


# --- the agency's known answers -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [(CASE1_INPUT, CASE1_HUELLA), (CASE2_INPUT, CASE2_HUELLA), (CASE3_INPUT, CASE3_HUELLA)],
)
def test_agency_vectors_are_plain_sha256_of_the_input(text: str, expected: str) -> None:
    """Each published input string hashes (SHA-256, upper hex) to the published huella."""
    assert expected == hashlib.sha256(text.encode("utf-8")).hexdigest().upper()


def test_first_alta_reproduces_agency_case_1() -> None:
    """build_alta writes case 1's exact input and huella() gives its huella."""
    fields = alta("12345678/G33", "", 30)
    assert CASE1_INPUT == hash_input(fields)
    assert CASE1_HUELLA == huella(fields)


def test_raw_case_1_fields_hash_to_the_agency_huella() -> None:
    """Fields parsed from the raw published string hash to the published huella."""
    fields = dict(pair.split("=", 1) for pair in CASE1_INPUT.split("&"))
    assert ALTA_FIELDS == tuple(fields)
    assert CASE1_HUELLA == huella(fields)


def test_chained_records_reproduce_agency_cases_2_and_3() -> None:
    """The second alta and the anulación, each chained to the one before, match §6."""
    first, second, third = agency_chain()
    assert (CASE1_HUELLA, CASE2_HUELLA, CASE3_HUELLA) == (
        first["huella"],
        second["huella"],
        third["huella"],
    )
    assert CASE2_INPUT == hash_input(second["fields"])
    assert CASE3_INPUT == hash_input(third["fields"])


def test_record_shape() -> None:
    """record() names the type, copies the fields and exposes both huellas."""
    fields = alta("12345679/G34", CASE1_HUELLA, 35)
    expected = {
        "record_type": "alta",
        "fields": fields,
        "huella": CASE2_HUELLA,
        "previous_huella": CASE1_HUELLA,
    }
    assert expected == record(fields)
    assert "anulacion" == agency_chain()[2]["record_type"]


# --- field formats --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("100"), "100.00"),
        (Decimal("12.35"), "12.35"),
        (Decimal("12.350"), "12.35"),
        (Decimal("0.1"), "0.10"),
        (Decimal("1E+2"), "100.00"),
        (Decimal("-12.35"), "-12.35"),
        (Decimal("-0"), "0.00"),
        (Decimal("999999999999.99"), "999999999999.99"),
    ],
)
def test_amounts_are_written_with_two_decimals(value: Decimal, expected: str) -> None:
    """Amounts: two decimals, point separator, no exponent, no negative zero."""
    assert expected == amount_text(value)


@pytest.mark.parametrize(
    "value",
    [
        Decimal("12.345"),
        Decimal("1000000000000"),
        Decimal("1E+30"),
        Decimal("-999999999999.995"),
        Decimal("NaN"),
        Decimal("Infinity"),
        12.35,
        "12.35",
        True,
    ],
)
def test_bad_amounts_are_refused(value: Any) -> None:
    """A third decimal, 13 integer digits, non-finite or non-Decimal amounts fail."""
    with pytest.raises(VerifactuError):
        amount_text(value)


def test_decimal_100_spelling_changes_the_huella() -> None:
    """The hash does not normalise numbers: ``100`` and ``100.00`` differ, so one is fixed."""
    fields = alta("A-1", "", 30, total=Decimal("100"))
    assert "100.00" == fields["ImporteTotal"]
    assert huella(fields) != huella(fields | {"ImporteTotal": "100"})


def test_timestamp_keeps_its_offset_and_drops_fractions() -> None:
    """The generation time is ISO 8601 to the second with the offset it was given."""
    at = datetime(2024, 7, 1, 10, 0, 0, 999_999, tzinfo=UTC)
    assert (
        "2024-07-01T10:00:00+00:00"
        == alta("A-1", "", 0, generated_at=at)["FechaHoraHusoGenRegistro"]
    )


def test_spanish_time_converts_to_madrid_with_daylight_saving() -> None:
    """spanish_time gives +01:00 in winter and +02:00 in summer."""
    winter = spanish_time(datetime(2024, 1, 1, 18, 20, 30, tzinfo=UTC))
    summer = spanish_time(datetime(2024, 7, 1, 8, 0, tzinfo=UTC))
    assert "2024-01-01T19:20:30+01:00" == winter.isoformat()
    assert "2024-07-01T10:00:00+02:00" == summer.isoformat()
    with pytest.raises(VerifactuError):
        spanish_time(datetime(2024, 1, 1))


def test_spanish_time_of_utc_reproduces_case_1() -> None:
    """18:20:30 UTC converted to Spanish time is case 1's timestamp."""
    at = spanish_time(datetime(2024, 1, 1, 18, 20, 30, tzinfo=UTC))
    assert CASE1_HUELLA == huella(alta("12345678/G33", "", 0, generated_at=at))


@pytest.mark.parametrize(
    ("override", "value"),
    [
        ("generated_at", datetime(2024, 1, 1, 19, 20, 30)),
        ("generated_at", datetime(2024, 1, 1, tzinfo=timezone(timedelta(seconds=30)))),
        ("issue_date", datetime(2024, 1, 1, tzinfo=UTC)),
        ("invoice_type", "F4"),
        ("invoice_type", "f1"),
        ("issuer_tax_id", "8989000K"),
        ("issuer_tax_id", "89890001k"),
        ("number", ""),
        ("number", "   "),
        ("number", "A" * 61),
        ("number", "FACTURA-Ñ"),
        ("number", "A\tB"),
        ("previous_huella", CASE1_HUELLA.lower()),
        ("previous_huella", CASE1_HUELLA[:-1]),
        ("tax_total", Decimal("0.001")),
        ("total", 123.45),
    ],
)
def test_build_alta_guards(override: str, value: Any) -> None:
    """Each bad argument to build_alta raises VerifactuError (a ValueError)."""
    with pytest.raises(VerifactuError):
        alta("A-1", "", 0, **{override: value})
    assert issubclass(VerifactuError, ValueError)


def test_build_alta_accepts_every_invoice_type() -> None:
    """All eight official invoice types are accepted and written as given."""
    types = {alta("A-1", "", 0, invoice_type=kind)["TipoFactura"] for kind in INVOICE_TYPES}
    assert {"F1", "F2", "F3", "R1", "R2", "R3", "R4", "R5"} == types


def test_build_anulacion_guards() -> None:
    """build_anulacion refuses a naive time and a malformed previous huella."""
    args: dict[str, Any] = {
        "issuer_tax_id": "89890001K",
        "number": "A-1",
        "issue_date": date(2024, 1, 1),
        "previous_huella": CASE1_HUELLA,
        "generated_at": datetime(2024, 1, 1, tzinfo=CET),
    }
    assert ANULACION_FIELDS == tuple(build_anulacion(**args))
    for bad in ({"generated_at": datetime(2024, 1, 1)}, {"previous_huella": "X"}):
        with pytest.raises(VerifactuError):
            build_anulacion(**(args | bad))


# --- the hash input rules -------------------------------------------------------------


def test_values_are_trimmed_of_spaces() -> None:
    """Leading and trailing spaces do not change the huella (document §3)."""
    fields = alta("12345678/G33", "", 30)
    padded = {name: f"  {value} " for name, value in fields.items()}
    assert CASE1_HUELLA == huella(padded)


def test_inner_spaces_are_kept() -> None:
    """Only the ends are trimmed: a space inside a value changes the huella."""
    fields = alta("12345678/G33", "", 30)
    assert CASE1_HUELLA != huella(fields | {"NumSerieFactura": "12345678 /G33"})


def test_empty_value_is_written_as_name_equals() -> None:
    """An empty value keeps its ``Name=`` and its ``&`` separators; no trailing ``&``."""
    text = hash_input(alta("12345678/G33", "", 30))
    assert "&Huella=&" in text
    assert not text.endswith("&")
    assert "+" not in text.split("FechaHoraHusoGenRegistro=")[0]  # no URL encoding
    assert "/" in text


def test_fields_out_of_order_are_refused() -> None:
    """Field names must be exactly ALTA_FIELDS or ANULACION_FIELDS, in that order."""
    fields = alta("12345678/G33", "", 30)
    swapped = dict(reversed(list(fields.items())))
    missing = {name: value for name, value in fields.items() if name != "Huella"}
    extra = fields | {"Extra": "x"}
    for bad in (swapped, missing, extra, {}):
        with pytest.raises(VerifactuError):
            huella(bad)


def test_non_string_value_is_refused() -> None:
    """Values must already be strings: the module never guesses a spelling."""
    fields: dict[str, Any] = alta("12345678/G33", "", 30) | {"CuotaTotal": Decimal("12.35")}
    with pytest.raises(VerifactuError):
        huella(fields)


# --- the chain ------------------------------------------------------------------------


def test_agency_chain_verifies() -> None:
    """alta, alta, anulación chained as in the agency's examples: no break."""
    assert verify_chain(agency_chain()) is None
    assert verify_chain([]) is None


def test_tampered_field_is_a_huella_mismatch_at_its_index() -> None:
    """Changing the second record's total breaks its recomputed huella."""
    chain = agency_chain()
    chain[1]["fields"]["ImporteTotal"] = "123.46"
    expected = ChainBreak(1, "huella_mismatch", huella(chain[1]["fields"]), CASE2_HUELLA)
    assert expected == verify_chain(chain)


def test_rehashed_record_is_a_chain_link_mismatch_at_the_next_index() -> None:
    """A record altered and re-hashed breaks the link of the record after it."""
    chain = agency_chain()
    chain[1] = record(chain[1]["fields"] | {"ImporteTotal": "1.00"})
    expected = ChainBreak(2, "chain_link_mismatch", chain[1]["huella"], CASE2_HUELLA)
    assert expected == verify_chain(chain)


def test_tampered_link_is_a_chain_link_mismatch_at_its_index() -> None:
    """A record re-linked to another predecessor (and re-hashed) breaks at itself."""
    chain = agency_chain()
    chain[2] = record(chain[2]["fields"] | {"Huella": CASE1_HUELLA})
    assert ChainBreak(2, "chain_link_mismatch", CASE2_HUELLA, CASE1_HUELLA) == verify_chain(chain)


def test_first_record_must_have_an_empty_link() -> None:
    """A chain that starts with a non-empty Huella is broken at index 0."""
    chain = agency_chain()[1:]
    assert ChainBreak(0, "chain_link_mismatch", "", CASE1_HUELLA) == verify_chain(chain)


def test_previous_huella_key_is_checked() -> None:
    """The record's ``previous_huella`` must agree with its ``Huella`` field."""
    chain = agency_chain()
    chain[1]["previous_huella"] = CASE3_HUELLA
    assert ChainBreak(1, "chain_link_mismatch", CASE1_HUELLA, CASE3_HUELLA) == verify_chain(chain)


def test_tampered_stored_huella_is_a_huella_mismatch() -> None:
    """Replacing the stored huella of the last record is caught at that record."""
    chain = agency_chain()
    chain[2]["huella"] = CASE1_HUELLA
    assert ChainBreak(2, "huella_mismatch", CASE3_HUELLA, CASE1_HUELLA) == verify_chain(chain)


def test_dropped_and_swapped_records_break_the_chain() -> None:
    """Removing the middle record or swapping two records is a link break."""
    first, second, third = agency_chain()
    assert ChainBreak(1, "chain_link_mismatch", CASE1_HUELLA, CASE2_HUELLA) == verify_chain(
        [first, third]
    )
    assert ChainBreak(0, "chain_link_mismatch", "", CASE1_HUELLA) == verify_chain(
        [second, first, third]
    )


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.pop("huella"),
        lambda r: r.pop("fields"),
        lambda r: r.__setitem__("record_type", "anulacion"),
        lambda r: r.__setitem__("fields", dict(reversed(list(r["fields"].items())))),
    ],
)
def test_malformed_record_raises(damage: Any) -> None:
    """A record without its keys, or with a type contradicting its fields, raises."""
    chain = agency_chain()
    damage(chain[1])
    with pytest.raises(VerifactuError, match="record 1"):
        verify_chain(chain)


# --- property: any one-character change anywhere is caught ----------------------------

NUMBERS = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20
)
AMOUNTS = st.decimals(
    min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=2, allow_nan=False
)
MOMENTS = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


@st.composite
def chains(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A random valid chain of 1-6 records, altas and anulaciones."""
    chain: list[dict[str, Any]] = []
    previous = ""
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        common: dict[str, Any] = {
            "issuer_tax_id": draw(st.sampled_from(["89890001K", "B12345678"])),
            "number": draw(NUMBERS),
            "issue_date": draw(st.dates(min_value=date(2024, 1, 1))),
            "previous_huella": previous,
            "generated_at": spanish_time(draw(MOMENTS)),
        }
        if draw(st.booleans()):
            fields = build_anulacion(**common)
        else:
            fields = build_alta(
                **common,
                invoice_type=draw(st.sampled_from(sorted(INVOICE_TYPES))),
                tax_total=draw(AMOUNTS),
                total=draw(AMOUNTS),
            )
        chain.append(record(fields))
        previous = chain[-1]["huella"]
    return chain


@settings(max_examples=300, deadline=None)
@given(data=st.data(), chain=chains())
def test_any_single_character_change_is_detected(
    data: st.DataObject, chain: list[dict[str, Any]]
) -> None:
    """Replacing one character of one non-empty field of one record breaks the chain there.

    A change to the ``Huella`` field is a link break; a change to any other field is a
    huella mismatch; both are reported at the index of the changed record.
    """
    assert verify_chain(chain) is None
    index = data.draw(st.integers(min_value=0, max_value=len(chain) - 1))
    fields = chain[index]["fields"]
    name = data.draw(st.sampled_from([n for n, v in fields.items() if v]))
    value = fields[name]
    at = data.draw(st.integers(min_value=0, max_value=len(value) - 1))
    char = data.draw(st.characters(min_codepoint=0x20, max_codepoint=0x7E))
    if char == value[at]:
        char = chr(0x21 + (ord(char) - 0x20) % 0x5E)  # any different printable one
    tampered = copy.deepcopy(chain)
    tampered[index]["fields"][name] = value[:at] + char + value[at + 1 :]
    found = verify_chain(tampered)
    assert found is not None
    expected_reason = "chain_link_mismatch" if name == "Huella" else "huella_mismatch"
    assert (index, expected_reason) == (found.index, found.reason)


# --- the QR verification URL ----------------------------------------------------------


def test_qr_url_matches_the_agency_encoding_example() -> None:
    """QR document §4: ``12345678&G33`` is sent as ``numserie=12345678%26G33``."""
    url = qr_url(
        issuer_tax_id="89890001K",
        number="12345678&G33",
        issue_date=date(2024, 1, 1),
        total=Decimal("241.4"),
    )
    expected = (
        "https://prewww2.aeat.es/wlpl/TIKE-CONT/ValidarQR"
        "?nif=89890001K&numserie=12345678%26G33&fecha=01-01-2024&importe=241.40"
    )
    assert expected == url


def test_qr_url_production_base_and_round_trip() -> None:
    """Production uses www2.agenciatributaria.gob.es; the values decode back unchanged."""
    url = qr_url(
        issuer_tax_id="89890001K",
        number="A/2024 1+2=3?#",
        issue_date=date(2024, 9, 1),
        total=Decimal("100"),
        production=True,
    )
    parts = urlsplit(url)
    assert ("https", "www2.agenciatributaria.gob.es", "/wlpl/TIKE-CONT/ValidarQR") == (
        parts.scheme,
        parts.netloc,
        parts.path,
    )
    assert [
        ("nif", "89890001K"),
        ("numserie", "A/2024 1+2=3?#"),
        ("fecha", "01-09-2024"),
        ("importe", "100.00"),
    ] == parse_qsl(parts.query, strict_parsing=True)
    assert "numserie=A%2F2024%201%2B2%3D3%3F%23&" in url


def test_qr_url_importe_matches_the_record() -> None:
    """The QR carries the same total text as the alta's ImporteTotal."""
    fields = alta("12345678-G33", "", 0, total=Decimal("-5"), invoice_type="R5")
    url = qr_url(
        issuer_tax_id="89890001K",
        number="12345678-G33",
        issue_date=date(2024, 1, 1),
        total=Decimal("-5"),
    )
    assert url.endswith(f"&importe={fields['ImporteTotal']}")
    assert "-5.00" == fields["ImporteTotal"]


@pytest.mark.parametrize(
    ("override", "value"),
    [
        ("issuer_tax_id", "X"),
        ("number", ""),
        ("number", "Ñ-1"),
        ("issue_date", datetime(2024, 1, 1, tzinfo=UTC)),
        ("total", Decimal("1.001")),
    ],
)
def test_qr_url_guards(override: str, value: Any) -> None:
    """The QR refuses what the record would refuse."""
    args: dict[str, Any] = {
        "issuer_tax_id": "89890001K",
        "number": "A-1",
        "issue_date": date(2024, 1, 1),
        "total": Decimal("1"),
    }
    with pytest.raises(VerifactuError):
        qr_url(**(args | {override: value}))
