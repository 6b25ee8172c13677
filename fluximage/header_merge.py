"""Header merging when images are combined (CIAO ≥ 4.14 dmimgcalc with fluximage's rules).

When CIAO's fluximage sums per-chip exposure maps, divides counts by exposure or
subtracts the HRC-I particle background, dmimgcalc merges the headers of its inputs
by the rules of ``fluximage_header_lookup.txt`` (ciao-contrib; the rules are listed
in the CIAO ahelp for ``merging_rules`` and in the fluximage script's data
directory).  :func:`merge_headers` applies the same rules to our cards:

=====================  =====================================================
rule                   merged value
=====================  =====================================================
``Merge-X;Force-Y``    the common value; ``X`` if they differ (missing = ``Y``)
``Force``              the first header's value
``WarnFirst``          the first header's value
``WarnOmit-tol``       the first value if every value is within ``tol`` of it,
                       else the keyword is dropped
``WarnPrefer-X``       the common value, else ``X``
``Fail``               the common value, else dropped
``Max``                the largest value
``calcForce``          TSTART the earliest, TSTOP the latest; DATE-OBS and
                       DATE-END those of the earliest start / latest stop
``calcGTI``            the sum over *different observations* (ONTIME*,
                       LIVETIME*, LIVTIME*, EXPOSUR*)
``Skip``               dropped (the ancillary-file keywords, OBI_NUM)
(not listed)           the common value; differing strings become
                       ``Merged``, differing numbers are dropped
=====================  =====================================================

Two rules differ from dmimgcalc on purpose (``docs/differences.md``): ``calcGTI``
does not add up the exposure of one observation's images (dmimgcalc would double
EXPOSURE when it divides counts by exposure), and ``calcForce`` keeps DATE-OBS and
DATE-END instead of dropping them.  DATE is made anew when a file is written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .fitswrite import Cards, card_image

__all__ = ["MERGE_RULES", "SKIPPED", "merge_headers"]

_MERGED = "Merged"

#: keyword → rule, from fluximage_header_lookup.txt (CIAO 4.14 ciao-contrib)
MERGE_RULES: dict[str, str] = {
    "MISSION": "Merge-Merged;Force-AXAF",
    **{
        key: "Merge-Merged;Force-Unknown"
        for key in ("TELESCOP", "OBJECT", "OBSERVER", "TITLE", "OBS_ID", "DS_IDENT", "SEQ_NUM",
                    "INSTRUME", "ASPTYPE", "GRATING", "OBS_MODE", "DATAMODE")
    },
    "ORIGIN": "WarnFirst",
    "CREATOR": "WarnFirst",
    "HDUNAME": "Force",
    **{key: "WarnOmit-0.0003" for key in ("RA_NOM", "DEC_NOM", "RA_PNT", "DEC_PNT")},
    **{key: "WarnOmit-1.0" for key in ("ROLL_NOM", "ROLL_PNT", "FOC_LEN")},
    "FP_TEMP": "WarnOmit-2.0",
    **{key: "WarnOmit-0.05" for key in ("RAND_SKY", "RAND_PI", "RAND_TG")},
    "SIM_X": "WarnOmit-0.001",
    "SIM_Y": "WarnOmit-0.001",
    "SIM_Z": "WarnOmit-0.1",
    "RADESYS": "WarnPrefer-ICRS",
    "DATACLAS": "WarnPrefer-Observed",
    "TIMVERSN": "WarnFirst",
    "CLOCKAPP": "WarnFirst",
    **{key: "Fail" for key in ("MJDREF", "BTIMNULL", "BTIMRATE", "BTIMDRFT", "BTIMCORR",
                               "TIMEUNIT", "TIMESYS", "TIMEPIXR")},
    **{key: "Max" for key in ("TIERRELA", "TIERABSO", "TIMEDEL")},
    **{key: "calcForce" for key in ("DATE", "DATE-OBS", "DATE-END", "TSTART", "TSTOP", "DTCOR")},
}

#: Keywords dropped from merged headers (the "Skip" rule).
SKIPPED = frozenset((
    "OBI_NUM", "THRFILE", "GAINFILE", "CTIFILE", "MTLFILE", "TGAINFIL", "GRD_FILE", "BIASFILE",
    "BIASFIL", "GEOMFILE", "SKYFILE", "TDETFILE", "SHELLFIL", "FLTFILE", "PBKFILE", "AMPSFFIL",
    "DTFFILE", "FLATFILE", "HYPFILE", "LIMFILE", "SATFILE", "OSIPFILE", "ASOLFILE", "BPIXFILE",
    "AIMPFILE", "MASKFILE",
))  # fmt: skip

#: calcGTI keywords: the exposure of an observation (per chip: ONTIME7, EXPOSUR3, ...).
_EXPOSURE = re.compile(r"^(ONTIME|LIVETIME|LIVTIME|EXPOSUR)")
_COMMENTARY = ("COMMENT", "HISTORY", "")


def _rule(keyword: str) -> str | None:
    if keyword in SKIPPED:
        return "Skip"
    if _EXPOSURE.match(keyword):
        return "calcGTI"
    return MERGE_RULES.get(keyword)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _observation(cards: Cards) -> tuple:
    return (cards.get("OBS_ID"), cards.get("TSTART"), cards.get("TSTOP"))


def _merged_value(keyword: str, headers: Sequence[Cards]):
    """The merged value of ``keyword``, or None to drop it."""
    rule = _rule(keyword)
    present = [h for h in headers if keyword in h]
    values = [h[keyword] for h in present]
    first = values[0]
    same = all(v == first for v in values)
    if rule is None:
        if same:
            return first
        return _MERGED if all(isinstance(v, str) for v in values) else None
    if rule == "Skip":
        return None
    if rule in ("Force", "WarnFirst"):
        return first
    if rule.startswith("Merge-"):
        merged, _, default = rule[len("Merge-") :].partition(";Force-")
        everyone = [h.get(keyword, default) for h in headers]
        return everyone[0] if all(v == everyone[0] for v in everyone) else merged
    if rule.startswith("WarnOmit-"):
        tolerance = float(rule[len("WarnOmit-") :])
        if len(present) < len(headers) or not all(_is_number(v) for v in values):
            return first if same and len(present) == len(headers) else None
        return first if all(abs(v - first) <= tolerance for v in values) else None
    if rule.startswith("WarnPrefer-"):
        return first if same else rule[len("WarnPrefer-") :]
    if rule == "Fail":
        return first if same and len(present) == len(headers) else None
    if rule == "Max":
        return max(values) if all(_is_number(v) for v in values) else first
    if rule == "calcGTI":
        by_observation = {_observation(h): h[keyword] for h in present}
        if not all(_is_number(v) for v in by_observation.values()):
            return first
        return first if len(by_observation) == 1 else sum(by_observation.values())
    return _calc_force(keyword, present)


def _calc_force(keyword: str, present: Sequence[Cards]):
    if keyword == "DATE":
        return None  # made anew when the file is written
    if keyword == "DTCOR":
        return present[0][keyword]
    timed = [h for h in present if _is_number(h.get("TSTART")) and _is_number(h.get("TSTOP"))]
    if keyword in ("TSTART", "DATE-OBS"):
        source = min(timed, key=lambda h: h["TSTART"]) if timed else present[0]
    else:
        source = max(timed, key=lambda h: h["TSTOP"]) if timed else present[0]
    return source.get(keyword, present[0][keyword])


def merge_headers(headers: Sequence[Cards]) -> Cards:
    """One header for an image made from several (``headers``, in dmimgcalc's input order).

    Keywords keep the order of their first appearance; COMMENT and HISTORY cards are
    those of the first header.  See the module docstring for the rules.
    """
    if not headers:
        raise ValueError("merge_headers needs at least one header")
    images: list[str] = []
    seen: set[str] = set()
    for n, h in enumerate(headers):
        for keyword, image in zip(h.keywords(), h.images(), strict=True):
            if keyword in _COMMENTARY:
                if n == 0:
                    images.append(image)
                continue
            if keyword in seen:
                continue
            seen.add(keyword)
            value = _merged_value(keyword, headers)
            if value is None:
                continue
            if value == h[keyword] and type(value) is type(h[keyword]):
                images.append(image)
            else:
                images.append(card_image(keyword, value, h.comment(keyword)))
    return Cards(images)
