"""Which weights of an LHE file's ``<initrwgt>`` block make the theory variations a process asks
for (``lhe.variations``): the 7-point scale variation and the members of a PDF set.

LHEF 3 files describe their weights in ``<initrwgt>``: each ``<weight id=...>``, usually inside a
``<weightgroup name=... combine=...>``, says in its attributes (MadGraph: ``MUR``, ``MUF``, ``PDF``,
``DYN_SCALE``) or its text (``muR=2 muF=0.5``, POWHEG's ``renscfact``/``facscfact``,
``lhapdf=``/``pdfset=``) what was varied. Each event repeats the weights in ``<rwgt>``, in the
units of its XWGTUP.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from phenoflow.variations import Variation

#: The variations an LHE process may ask for.
LHE_VARIATIONS = ("scale", "pdf")
#: The (muR, muF) factors of the standard 7-point scale variation: both scales varied by 2 up
#: and down, together or one at a time, without the two anti-correlated points (0.5, 2), (2, 0.5).
SCALE_POINTS = ((0.5, 0.5), (0.5, 1.0), (1.0, 0.5), (1.0, 1.0), (1.0, 2.0), (2.0, 1.0), (2.0, 2.0))
#: LHAPDF numbers the members of a set from its id: member k is id + k (fewer than this many).
MAX_MEMBERS = 1000


class VariationError(ValueError):
    """An LHE file does not provide a variation asked for (the message names the file, the
    variation and what the file provides), or an event lacks one of its weights."""


_TEXT_KEY = re.compile(
    r"\b(mur|muf|renscfact|facscfact|pdf|lhapdf|pdfset|memberid|dyn_scale|dyn_scale_choice)\s*=\s*(\S+)", re.I
)
#: LHAPDF families whose error sets are Hessian eigenvectors, by the start of the set's name.
_HESSIAN_FAMILIES = re.compile(r"^(ct\d|cteq|mmht|msht|abm|hera)", re.I)
_SYMMETRIC_FAMILIES = re.compile(r"^pdf4lhc\d+_n*lo_\d", re.I)


@dataclass(frozen=True)
class LHEWeight:
    """One weight of ``<initrwgt>``: its id, its group's name and ``combine`` attribute (None
    outside a group), its scale factors (muR, muF; None if it gives none), the LHAPDF id of its
    PDF member (None if it gives none) and whether it uses another dynamical scale choice."""

    id: str
    group: str | None
    combine: str | None
    mur: float | None
    muf: float | None
    pdf: int | None
    dynamic: bool


def _number(text: str, where: str) -> float:
    try:
        return float(text.lower().replace("d", "e"))  # Fortran's 1.0d0
    except ValueError:
        raise VariationError(f"{where}: cannot read the number '{text}'") from None


def _weight(weight, group, where: str) -> LHEWeight:
    """The facts of one pylhe ``LHEInitRWGTWeight`` (attributes first, then its text)."""
    attrs = {k.lower(): v for k, v in weight.attributes.items()}
    text = {k.lower(): v for k, v in _TEXT_KEY.findall(weight.name or "")}
    where = f"{where}: weight '{weight.id}'"

    def value(*keys: str) -> str | None:
        return next((source[k] for source in (attrs, text) for k in keys if k in source), None)

    mur, muf = value("mur", "renscfact"), value("muf", "facscfact")
    pdf = value("pdf", "lhapdf", "pdfset")
    member = text.get("memberid") if "pdf" not in attrs else None  # MadGraph's text: PDF=<set> MemberID=<k>
    dyn = value("dyn_scale", "dyn_scale_choice")
    return LHEWeight(
        id=weight.id,
        group=None if group is None else (group.name or ""),
        combine=None if group is None or group.combine is None else group.combine.lower(),
        mur=None if mur is None else _number(mur, where),
        muf=None if muf is None else _number(muf, where),
        pdf=None if pdf is None else int(_number(pdf, where)) + (int(_number(member, where)) if member else 0),
        dynamic=dyn is not None and dyn.strip() != "-1",
    )


def weights_of(initrwgt, where: str) -> tuple[LHEWeight, ...]:
    """Every weight of a pylhe ``LHEInitRWGT`` block, in file order (``where`` names the file in
    errors)."""
    out = []
    for entry in initrwgt.entries:
        members = getattr(entry, "weights", None)
        if members is None:
            out.append(_weight(entry, None, where))
        else:
            out.extend(_weight(w, entry, where) for w in members)
    return tuple(out)


def provided(weights: Sequence[LHEWeight]) -> str:
    """What a file's weights are, for an error message: its groups with their combine attribute
    and weight count, and how many weights give scales and PDF members."""
    if not weights:
        return "it has no <initrwgt> weights"
    groups: dict[str | None, list[LHEWeight]] = {}
    for w in weights:
        groups.setdefault(w.group, []).append(w)
    parts = [
        f"'{name}' ({len(ws)} weights, ids {ws[0].id}..{ws[-1].id}, combine {ws[0].combine or 'not given'})"
        if name is not None
        else f"{len(ws)} weights outside any group"
        for name, ws in groups.items()
    ]
    scales = sum(w.mur is not None or w.muf is not None for w in weights)
    pdfs = sum(w.pdf is not None for w in weights)
    return f"its weight groups: {'; '.join(parts)}; {scales} weights give muR/muF, {pdfs} a PDF member"


def _is_central_scale(w: LHEWeight) -> bool:
    return not w.dynamic and all(f is None or math.isclose(f, 1.0) for f in (w.mur, w.muf))


def scale_variations(weights: Sequence[LHEWeight], central_pdf: int | None, where: str) -> list[Variation]:
    """The 7-point scale variation (:data:`SCALE_POINTS`) as the file gives it: for each point the
    first weight with those factors (a factor not given is 1), no other dynamical scale choice and
    the central PDF (``central_pdf``, the ``<init>`` block's; any if unknown), in the order of the
    points; named ``scale:mur=0.5,muf=1``, group ``scale``, combined as an envelope. The
    (1, 1) point is the nominal one where the file has it as a weight. ValueError naming ``where``
    and what the file provides if it has no point besides (1, 1)."""
    found: dict[tuple[float, float], LHEWeight] = {}
    for w in weights:
        if (w.mur is None and w.muf is None) or w.dynamic:
            continue
        if w.pdf is not None and central_pdf is not None and w.pdf != central_pdf:
            continue
        point = (1.0 if w.mur is None else w.mur, 1.0 if w.muf is None else w.muf)
        match = next((p for p in SCALE_POINTS if all(math.isclose(a, b) for a, b in zip(p, point))), None)
        if match is not None:
            found.setdefault(match, w)
    if not set(found) - {(1.0, 1.0)}:
        raise VariationError(
            f"{where}: asks for scale variations, but the file has no weight for a point of the 7-point "
            f"variation (muR, muF in 0.5, 1, 2 without other dynamical scales{'' if central_pdf is None else f', PDF {central_pdf}'}); "
            f"{provided(weights)}"
        )
    return [
        Variation(f"scale:mur={mur:g},muf={muf:g}", "scale", "envelope", found[(mur, muf)].id)
        for mur, muf in SCALE_POINTS
        if (mur, muf) in found
    ]


def _pdf_combine(group: str, combine: str | None, where: str) -> tuple[str, bool]:
    """How a PDF group's members combine (LHAPDF's error types: ``replicas``, ``hessian`` with a
    pair of members per eigenvector, ``symmhessian`` with one) and whether its last two members are
    alpha_s variations (error types ending in ``+as``): from the group's ``combine`` attribute
    (LHAPDF's error type, as MadGraph writes it), else from the set's name (the Hessian
    conversions of Monte Carlo sets, ``..._hessian``, and the PDF4LHC <order>_<n> sets are
    symmetric; NNPDF and ``_mc`` sets are replicas; CT, CTEQ, MMHT, MSHT, ABM and HERAPDF sets are
    eigenvector pairs)."""
    if combine:
        kind = combine.removesuffix("+as")
        if kind in ("replicas", "hessian", "symmhessian"):
            return kind, combine.endswith("+as")
    name = group.lower()
    if "hessian" in name or _SYMMETRIC_FAMILIES.match(group):
        return "symmhessian", False
    if "nnpdf" in name or "_mc" in name:
        return "replicas", False
    if _HESSIAN_FAMILIES.match(group):
        return "hessian", False
    raise VariationError(
        f"{where}: cannot tell how the members of the PDF weight group '{group}' combine: its combine "
        f"attribute is {combine!r} (not replicas, hessian or symmhessian) and its name is no known LHAPDF family"
    )


def pdf_variations(weights: Sequence[LHEWeight], central_pdf: int | None, where: str) -> list[Variation]:
    """The members of the file's central PDF set (LHAPDF ids ``central_pdf`` + 1 .. + 999, from
    the ``<init>`` block) at the central scales: those of the first group holding such members,
    named ``pdf:<member>``, group ``pdf``, combined as the group says (:func:`_pdf_combine`); the
    two alpha_s members of a ``+as`` set are left out. ValueError naming ``where`` and what the
    file provides if it has none, or if the file's ``<init>`` block gives no PDF set."""
    if central_pdf is None:
        raise VariationError(
            f"{where}: asks for PDF variations, but the file's <init> block gives no PDF set (PDFSUP), "
            f"so its members are unknown; {provided(weights)}"
        )

    def member(w: LHEWeight) -> int:
        return -1 if w.pdf is None or not _is_central_scale(w) else w.pdf - central_pdf

    group = next((w.group for w in weights if 0 < member(w) < MAX_MEMBERS), False)
    if group is False:
        raise VariationError(
            f"{where}: asks for PDF variations, but the file has no weight for a member of its PDF set "
            f"{central_pdf} (LHAPDF ids {central_pdf + 1}..{central_pdf + MAX_MEMBERS - 1}); {provided(weights)}"
        )
    members = [w for w in weights if w.group == group and 0 < member(w) < MAX_MEMBERS]
    combine, alpha_s = _pdf_combine(group or "", members[0].combine, where)
    members.sort(key=member)
    if alpha_s:
        members = members[:-2]
    return [Variation(f"pdf:{member(w)}", "pdf", combine, w.id) for w in members]


def lhe_variations(
    weights: Sequence[LHEWeight], central_pdf: int | None, requested: Iterable[str], where: str
) -> list[Variation]:
    """The variations of each group in ``requested`` (:data:`LHE_VARIATIONS`), in that order."""
    select = {"scale": scale_variations, "pdf": pdf_variations}
    out = []
    for name in requested:
        if name not in select:
            raise VariationError(f"{where}: unknown LHE variation '{name}'; known: {', '.join(LHE_VARIATIONS)}")
        out += select[name](weights, central_pdf, where)
    return out
