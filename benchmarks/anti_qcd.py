"""The anti-QCD requirement min Δφ(jets, MET) after the default preselection: what each process keeps.

Run: .venv/bin/python benchmarks/anti_qcd.py [--qcd 20000] [--zvv 1000] [--signal 500] [--regenerate]

The three processes of config/config.yaml are generated with their own settings (Pythia8 lines,
QCD's pT-hat bias, the signal's decay filter) in chunks of ``generation.events_per_chunk`` and
passed through the detector card; the ntuples are cached in /tmp/phenoflow-bench-anti-qcd/
(about 80 events/s to make, Pythia's output in native.log there; --regenerate rebuilds them).
Each process is skimmed with ``selection.cuts`` and weighted to ``luminosity_fb`` as the workflow
does. For every candidate cut this prints, per process, the weighted efficiency after the
preselection with its MC error, the raw efficiency (events kept / events preselected) and the
yield left; then the signal S, background B and S/sqrt(B) before and after each cut. The jets
are the card's (pT > 20 GeV, |eta| < 5); two candidates take only the jets of the experiments'
thresholds. Also printed: the preselected events with no jet (they fail a min Δφ cut) and the
fraction with the leading fat jet back to back with MET (|Δφ| > 2.8). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import yaml

from phenoflow.config import beam_ids
from phenoflow.events.selection import parse
from phenoflow.events.skim import WeightNorm, skim
from phenoflow.generation.crosssection import merge_chunks
from phenoflow.io import read_json, write_json
from phenoflow.seeds import derive_seed

REPO = Path(__file__).resolve().parents[1]
CACHE = Path("/tmp/phenoflow-bench-anti-qcd")
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
GENERATOR_KEYS = ("pythia", "bias", "decay_filter")  # the generator part of a process, as the workflow passes it


def chunk_files(process: str, n_events: int, regenerate: bool) -> tuple[list[Path], dict]:
    """The cached ntuples of ``n_events`` events of ``process`` (generated and simulated where
    absent) and the process summary merged from their chunks (sigma, sum of generator weights)."""
    size = CONFIG["generation"]["events_per_chunk"]
    settings = {k: v for k, v in CONFIG["processes"][process].items() if k in GENERATOR_KEYS}
    paths, summaries = [], []
    for index, first in enumerate(range(0, n_events, size)):
        n = min(size, n_events - first)
        path = CACHE / f"{process}_chunk{index}_{n}.root"
        summary = path.with_suffix(".json")
        if regenerate or not (path.exists() and summary.exists()):
            generate(process, settings, n, index, path, summary)
        paths.append(path)
        summaries.append(read_json(summary))
    return paths, merge_chunks(summaries)


def generate(process: str, settings: dict, n_events: int, index: int, path: Path, summary: Path) -> None:
    """One chunk of ``process``: Pythia8, the detector card, the ntuple and its summary."""
    from phenoflow.detector.card import load_card
    from phenoflow.detector.ntuple import delphes_branches, write_ntuple
    from phenoflow.detector.simulation import simulate
    from phenoflow.generation import generate_chunk
    from phenoflow.logs import redirect_native_output

    seed = derive_seed(CONFIG["seed"], "anti_qcd", process, index)
    sqrt_s = CONFIG["collider"]["sqrt_s_gev"]
    CACHE.mkdir(parents=True, exist_ok=True)
    with redirect_native_output(CACHE / "native.log"):  # Pythia's and FastJet's banners and messages
        chunk, _ = generate_chunk(settings, n_events, 0, seed, sqrt_s, beams=beam_ids(CONFIG))
        objects = simulate(chunk.particles, load_card(REPO / CONFIG["detector"]["card"]), seed + 1)
    write_ntuple(path, delphes_branches(objects, chunk.weights, chunk.sigma_pb, chunk.sigma_err_pb))
    write_json(
        summary,
        {
            "sigma_pb": chunk.sigma_pb,
            "sigma_err_pb": chunk.sigma_err_pb,
            "n_tried": chunk.n_tried,
            "n_events": chunk.n_accepted,
            "sum_weights": float(np.sum(chunk.weights)),
        },
    )
    print(f"  generated {process} chunk {index}: {chunk.n_accepted} events", flush=True)


def with_jets(cut: str, keep: Callable[[ak.Array], ak.Array]) -> Callable[[ak.Array], np.ndarray]:
    """``cut`` evaluated on the events with only the jets for which ``keep(jets)`` is true."""
    parsed = parse(cut)
    return lambda events: parsed.mask(ak.with_field(events, events.jet[keep(events.jet)], "jet"))


CANDIDATES: dict[str, Callable[[ak.Array], np.ndarray]] = {
    "jet[:4],met.min_delta_phi > 0.5": parse("jet[:4],met.min_delta_phi > 0.5").mask,
    "jet[:4],met.min_delta_phi > 0.4": parse("jet[:4],met.min_delta_phi > 0.4").mask,
    "jet[:],met.min_delta_phi > 0.5": parse("jet[:],met.min_delta_phi > 0.5").mask,
    "as > 0.5, jets pT > 30 GeV": with_jets("jet[:4],met.min_delta_phi > 0.5", lambda jets: jets.pt > 30),
    "as > 0.5, jets pT > 30 GeV, |eta| < 2.4": with_jets(
        "jet[:4],met.min_delta_phi > 0.5", lambda jets: (jets.pt > 30) & (abs(jets.eta) < 2.4)
    ),
}


def efficiency(passed: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted efficiency sum(w passed) / sum(w) and its MC error
    sqrt(sum_pass w^2 (1 - eff)^2 + sum_fail w^2 eff^2) / sum(w)."""
    total = w.sum()
    eff = w[passed].sum() / total
    error = np.sqrt((w[passed] ** 2).sum() * (1 - eff) ** 2 + (w[~passed] ** 2).sum() * eff**2) / total
    return float(eff), float(error)


def table(samples: dict[str, ak.Array]) -> pd.DataFrame:
    """One row per process and candidate cut: efficiencies after the preselection and the yield left."""
    rows = []
    for process, events in samples.items():
        w = ak.to_numpy(events.weight_phys)
        for cut, mask in CANDIDATES.items():
            passed = mask(events)
            eff, error = efficiency(passed, w)
            rows.append(
                {
                    "process": process,
                    "cut": cut,
                    "weighted eff": f"{eff:.3f} ± {error:.3f}",
                    "raw eff": f"{passed.sum()}/{len(passed)} = {passed.mean():.3f}",
                    "yield left": w[passed].sum(),
                }
            )
    return pd.DataFrame(rows)


def significance(samples: dict[str, ak.Array], rows: pd.DataFrame) -> pd.DataFrame:
    """Per candidate cut (and the preselection alone): signal S, background B and S / sqrt(B)."""
    signal = [p for p in samples if CONFIG["processes"][p]["role"] == "signal"]
    before = {p: float(ak.sum(events.weight_phys)) for p, events in samples.items()}
    yields = {"preselection": before} | {
        cut: dict(zip(group["process"], group["yield left"])) for cut, group in rows.groupby("cut", sort=False)
    }
    out = []
    for cut, by_process in yields.items():
        s = sum(v for p, v in by_process.items() if p in signal)
        b = sum(v for p, v in by_process.items() if p not in signal)
        out.append({"cut": cut, "S": s, "B": b, "S/sqrt(B)": s / np.sqrt(b)})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qcd", type=int, default=20_000, help="QCD events to generate")
    parser.add_argument("--zvv", type=int, default=1_000, help="Z(vv)+jets events to generate")
    parser.add_argument("--signal", type=int, default=500, help="signal events to generate (after its decay filter)")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the cached ntuples")
    args = parser.parse_args()
    cuts = CONFIG["selection"]["cuts"]
    print(f"preselection (selection.cuts): {' and '.join(cuts)}; {CONFIG['luminosity_fb']} fb^-1")
    samples = {}
    for process, n_events in (("zz_qqvv", args.signal), ("zvv_jets", args.zvv), ("qcd", args.qcd)):
        paths, summary = chunk_files(process, n_events, args.regenerate)
        events, cutflow = skim(
            paths,
            cuts,
            WeightNorm(summary["sigma_pb"], summary["sum_weights"], CONFIG["luminosity_fb"]),
            process,
            allow_empty=True,
        )
        samples[process] = events
        w = ak.to_numpy(events.weight_phys)
        no_jet = ak.to_numpy(ak.num(events.jet, axis=1)) == 0
        back_to_back = parse("abs(fatjet0,met.delta_phi) > 2.8").mask(events)
        print(
            f"{process}: {summary['n_events']} generated, {len(events)} preselected, yield "
            f"{w.sum():.4g} ± {np.sqrt((w**2).sum()):.2g} (Kish N_eff {w.sum() ** 2 / (w**2).sum():.1f}); "
            f"no jet: {no_jet.sum()}; |delta_phi(fatjet0, MET)| > 2.8: weighted "
            f"{efficiency(back_to_back, w)[0]:.3f}, raw {back_to_back.mean():.3f}"
        )
    rows = table(samples)
    print()
    print(rows.to_string(index=False, float_format="%.4g"))
    print()
    print(significance(samples, rows).to_string(index=False, float_format="%.4g"))


if __name__ == "__main__":
    main()
