"""SPREC codes (ISBER Standard PREanalytical Code, v2.0: Betsou et al.,
Biopreserv Biobank 2012;10:366) derived from the recorded pre-analytical times.

The code is derived, never typed in, so it cannot disagree with the raw times
and temperatures it summarises. Elements this study does not record precisely
are written 'X' (unknown), as the standard asks, rather than guessed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Element 3, pre-centrifugation delay: (upper bound in hours, code at room
# temperature, code at 2-10 °C).
PRE_CENTRIFUGATION_BANDS = [
    (2, "A", "B"),
    (4, "C", "D"),
    (8, "E", "F"),
    (12, "G", "H"),
    (24, "I", "J"),
    (48, "K", "L"),
]
PRE_CENTRIFUGATION_LONGER = ("M", "N")

# Element 6, post-centrifugation delay before freezing: (upper bound in hours,
# room temperature, 2-10 °C).
POST_CENTRIFUGATION_BANDS = [
    (1, "A", "B"),
    (2, "C", "D"),
    (8, "E", "F"),
    (24, "G", "H"),
]
POST_CENTRIFUGATION_LONGER = ("I", "J")

# Element 2, primary container.
CONTAINER_CODES = {
    "SST": "Serum separator tube with clot activator",
    "CAT": "Serum tube without clot activator",
    "XXX": "Unknown",
}


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start) / timedelta(hours=1)


def _band(hours: float | None, cold: bool, bands, longer) -> str:
    if hours is None or hours < 0:
        return "X"
    for upper, room, chilled in bands:
        if hours < upper:
            return chilled if cold else room
    return longer[1] if cold else longer[0]


def centrifugation_code(
    *,
    g_force: int | None,
    minutes: int | None,
    temperature_c: float | None,
    braking: bool | None = True,
) -> str:
    """Element 4: A = RT 10 min <3000 g with brake, B = without brake, D = 2-10 °C
    10 min <3000 g with brake; anything else this lab does not use is 'Z' (other)."""
    if g_force is None or minutes is None or temperature_c is None:
        return "X"
    room = 15 <= temperature_c <= 28
    cold = 2 <= temperature_c <= 10
    if minutes == 10 and g_force < 3000:
        if room:
            return "A" if braking else "B"
        if cold and braking:
            return "D"
    return "Z"


def storage_code(temperature_c: float | None) -> str:
    """Element 7: A = polypropylene cryotube 1-2 ml at -85 to -60 °C; B = -35 to -18 °C."""
    if temperature_c is None:
        return "X"
    if -85 <= temperature_c <= -60:
        return "A"
    if -35 <= temperature_c <= -18:
        return "B"
    return "Z"


def serum_sprec(
    *,
    container: str,
    drawn_at: datetime | None,
    centrifuged_at: datetime | None,
    frozen_at: datetime | None,
    held_cold: bool,
    centrifugation_g: int | None,
    centrifugation_minutes: int | None,
    centrifugation_temperature_c: float | None,
    storage_temperature_c: float | None,
) -> str:
    """The seven-element SPREC code of a serum aliquot, e.g. 'SER-SST-A-A-N-A-A'."""
    return "-".join(
        [
            "SER",
            container if container in CONTAINER_CODES else "XXX",
            _band(
                _hours(drawn_at, centrifuged_at),
                held_cold,
                PRE_CENTRIFUGATION_BANDS,
                PRE_CENTRIFUGATION_LONGER,
            ),
            centrifugation_code(
                g_force=centrifugation_g,
                minutes=centrifugation_minutes,
                temperature_c=centrifugation_temperature_c,
            ),
            "N",  # no second centrifugation: the protocol spins serum once
            _band(
                _hours(centrifuged_at, frozen_at),
                held_cold,
                POST_CENTRIFUGATION_BANDS,
                POST_CENTRIFUGATION_LONGER,
            ),
            storage_code(storage_temperature_c),
        ]
    )


def rna_derivative_sprec(*, storage_temperature_c: float | None, freeze_thaw_cycles: int) -> str:
    """The SPREC code of an exosome RNA derivative: type (RNA from exosomes, 'EXO'
    is not a SPREC type so 'RNA' is used), extraction 'Z' (ExoQuick precipitation
    then mirVana, not in the SPREC list), storage, and thaw count."""
    return "-".join(
        ["RNA", "SER", "Z", storage_code(storage_temperature_c), str(freeze_thaw_cycles)]
    )
