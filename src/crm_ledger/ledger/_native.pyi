from collections.abc import Sequence

def check_lines(
    data: bytes,
    expected_index: object,
    prev_hex: object,
    last_seq: object,
    last_time: object,
    origin: object,
    watch: tuple[bytes, ...],
    /,
) -> tuple[tuple[bytes, ...], int, int, str, str, str, tuple[int, ...]] | None: ...
def node_hashes(level: Sequence[bytes], /) -> list[bytes]: ...
