"""How the stages after generation scale with the sample: wall and CPU time and peak memory per stage at
several multiples of the default sample (goal: time linear in events, memory flat).

Run: .venv/bin/python benchmarks/scale.py [--run .] [--config config/config.yaml]
         [--scales 1 3 10 30] [--train-up-to 10] [--extrapolate 100] [--models bdt cuts mlp cnn]
         [--scratch /tmp/phenoflow-scale] [--keep]

The events are REPLICATED, not generated: for scale N, every chunk ntuple of a finished run's
``results/generate/<process>/`` is listed N times under new chunk indices in a scratch results
directory (the ROOT files as symbolic links, so N copies cost no disk; their JSON summaries
copied with the new index). The physics is the same sample N times; the weights are divided by N
through the merged sum of generator weights, as for N independent chunks. Reading the same files
N times is served from the page cache, so the skim's time at large N is a lower bound of a real
sample's (which is read from disk once).

Each stage runs its own workflow script (workflow/scripts/<stage>.py), in a fresh Python process,
with a stand-in for the ``snakemake`` object carrying the input, output, params and log the rule
would give it (params from --config with the schema's defaults filled, as the workflow does; the
run's chunks must hold the events that config asks for) -- no Snakemake, no DAG.
Stages: merge_process and skim per process, features, split, images, and the training of fold 0
of each classifier instance (rule train_<name>, 2 threads). The evaluation and binning are left
out. A stage's wall and CPU time (all its threads) are measured inside its process around the
script (imports included, the interpreter's start excluded); its peak memory is the process's
ru_maxrss at the end. Per-process
stages are summed (time) and maximised (memory) over the processes.

The training of the larger models takes minutes per 10x, so it runs only up to --train-up-to.
At the end, per stage: the time per million generated events at each scale and whether time is
linear (the per-event CPU time at the largest scale within 30 % of that at the second largest;
"sublinear" where a fixed cost still dominates; CPU time, because on a shared machine the wall
time of one stage varied by 2x between two runs), whether the peak memory is flat (at the largest
scale less than 10 % above the smallest scale's) and its growth per million generated events
between the two largest scales, and both extrapolated to --extrapolate (100x) where that scale was
not run (the default scales stop at 30x; the skim, features and images stream, so
``--scales 1 10 100 --train-up-to 0`` measures them at 100x in minutes). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import runpy
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from snakemake.utils import validate

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "workflow" / "scripts"
LINEAR = 0.3  # time per event at the largest scale within this fraction of the second largest's
FLAT = 0.1  # peak memory at the largest scale within this fraction above the smallest scale's


def replicate(run: Path, dest: Path, scale: int, config: dict) -> None:
    """The chunk ntuples of ``run`` (a finished run of ``config``) listed ``scale`` times in
    ``dest/generate/<process>/``: ROOT files linked, JSON summaries rewritten with the new index."""
    for process in sorted(config["processes"]):
        source, target = run / "results" / "generate" / process, dest / "generate" / process
        target.mkdir(parents=True, exist_ok=True)
        chunks = sorted(source.glob("chunk*.root"), key=lambda p: int(p.stem.removeprefix("chunk")))
        if not chunks:
            raise FileNotFoundError(f"{source}: no chunk*.root files (a finished run's generate/{process}/)")
        found = sum(json.loads(p.with_suffix(".json").read_text())["n_events"] for p in chunks)
        if found != config["processes"][process]["events"]:
            raise ValueError(f"{source}: {found} events, processes.{process}.events of the config is "
                             f"{config['processes'][process]['events']} (not a finished run of this config?)")  # fmt: skip
        for copy in range(scale):
            for k, root in enumerate(chunks):
                index = copy * len(chunks) + k
                link = target / f"chunk{index}.root"
                if not link.exists():
                    link.symlink_to(root.resolve())
                summary = json.loads(root.with_suffix(".json").read_text())
                (target / f"chunk{index}.json").write_text(json.dumps({**summary, "chunk": index}))


def jobs(config: dict, d: Path, processes: list[str], models: list[str], train: bool) -> list[tuple[str, dict]]:
    """(stage, job) in run order: each job the script, input, output, params, log, wildcards and
    threads its rule gives it (as in workflow/rules/*.smk)."""
    from phenoflow.events.observables import needs_constituents
    from phenoflow.features.classes import classes_from_config
    from phenoflow.models import classifiers
    from phenoflow.seeds import derive_seed

    def job(script, inputs, outputs, params, log, wildcards=None, threads=1):
        return {"script": str(SCRIPTS / script), "input": inputs, "output": outputs, "params": params,
                "log": [str(d / "logs" / log)], "wildcards": wildcards or {}, "threads": threads}  # fmt: skip

    images = "images" in config
    constituents = images or needs_constituents([*config["selection"]["cuts"], *config["features"]["names"]])
    out = []
    for p in processes:
        chunks = sorted((d / "generate" / p).glob("chunk*.json"))
        summary = str(d / "generate" / p / "summary.json")
        params = {"cross_section": config["processes"][p].get("cross_section", {}), "provenance": config}
        out.append(("merge_process", job("merge_process.py", {"chunks": [str(c) for c in chunks]},
                                         {"summary": summary, "provenance": f"{summary}.provenance.yaml"},
                                         params, f"merge_{p}.log", {"process": p})))  # fmt: skip
    for p in processes:
        params = {"provenance": config, "cuts": config["selection"]["cuts"],
                  "allow_empty": config["selection"]["allow_empty"], "constituents": constituents,
                  "substructure": config["substructure"], "luminosity_fb": config["luminosity_fb"]}  # fmt: skip
        inputs = {"ntuples": [str(c) for c in sorted((d / "generate" / p).glob("chunk*.root"))],
                  "summary": str(d / "generate" / p / "summary.json")}  # fmt: skip
        outputs = {k: str(d / "skim" / f"{p}.{ext}") for k, ext in
                   (("events", "parquet"), ("cutflow", "cutflow.csv"), ("provenance", "provenance.yaml"))}  # fmt: skip
        out.append(("skim", job("skim.py", inputs, outputs, params, f"skim_{p}.log", {"process": p})))
    events = [str(d / "skim" / f"{p}.parquet") for p in processes]
    summaries = [str(d / "generate" / p / "summary.json") for p in processes]
    table, split, npy = (str(d / "features" / f) for f in ("features.parquet", "split.json", "images.npy"))
    params = {"processes": processes, "provenance": config, "classes": classes_from_config(config["processes"]).as_dict(),
              "names": config["features"]["names"], "fill_value": config["features"]["fill_value"],
              "substructure": config["substructure"]}  # fmt: skip
    out.append(("features", job("features.py", {"events": events, "summaries": summaries},
                                {"table": table, "metadata": str(d / "features" / "features.yaml")}, params, "features.log")))  # fmt: skip
    params = {"provenance": config, "spec": config["split"], "seed": derive_seed(config["seed"], "split")}
    outputs = {"split": split, "provenance": f"{split}.provenance.yaml"}
    out.append(("split", job("split.py", [table], outputs, params, "split.log")))
    if images:
        params = {"processes": processes, "spec": config["images"], "radius": config["substructure"]["radius"],
                  "sqrt_s_gev": config["collider"]["sqrt_s_gev"], "provenance": config}  # fmt: skip
        outputs = {"images": npy, "metadata": str(d / "features" / "images.yaml"),
                   "average": str(d / "features" / "average_images.png")}  # fmt: skip
        out.append(("images", job("images.py", {"events": events, "table": table}, outputs, params, "images.log")))
    if not train:
        return out
    instances = classifiers(config)
    for name in models:
        c = instances[name]
        folder = d / "models" / name / "fold0"
        inputs = {"features": table, "split": split, **({"images": npy} if c.images else {})}
        outputs = {"model": str(d / c.model_file(0)), **{k: str(folder / f) for k, f in
                   (("history", "history.csv"), ("training", "training.json"), ("provenance", "provenance.yaml"))}}  # fmt: skip
        significance = c.description.significance_objective
        params = {"provenance": config, "model": name, "fold": 0, "method": c.method, "hyper": dict(c.hyper),
                  "features": list(c.features), "seed": derive_seed(config["seed"], "train", name, 0),
                  "balance": None if c.description.physical_weights else config["training_weights"],
                  "batches": config["training_batches"] if c.description.batched else "memory",
                  "significance": config["significance"] if significance else {},
                  "min_mc_events": c.hyper.get("min_mc_events", config["evaluation"]["min_mc_events"]) if significance else None}  # fmt: skip
        out.append((f"train_{name}", job("train.py", inputs, outputs, params, f"train_{name}.log", threads=2)))
    return out


def run_child(job_file: str) -> None:
    """Run one workflow script with a stand-in snakemake object; print its time and peak memory."""
    from snakemake.iocontainers import Namedlist

    spec = json.loads(Path(job_file).read_text())

    def files(value):  # as Snakemake's: one flat list of paths, a name per entry (a list's a slice)
        if not isinstance(value, dict):
            return Namedlist(value)
        flat = Namedlist()
        for name, paths in value.items():
            start = len(flat)
            flat.extend(paths if isinstance(paths, list) else [paths])
            flat._set_name(name, start, len(flat) if isinstance(paths, list) else None)
        return flat

    class Stand:  # the attributes the scripts read of Snakemake's script object
        input, output, log = files(spec["input"]), files(spec["output"]), files(spec["log"])
        params, wildcards = Namedlist(fromdict=spec["params"]), Namedlist(fromdict=spec["wildcards"])
        threads = spec["threads"]

    for path in [*Stand.output, *Stand.log]:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    runpy.run_path(spec["script"], init_globals={"snakemake": Stand}, run_name="__main__")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": peak_mb}))


def measure(job: dict, path: Path) -> dict:
    """Run ``job`` in a fresh Python process; its time (s) and peak memory (MB)."""
    path.write_text(json.dumps(job))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{job['script']} failed (log {job['log'][0]}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def skimmed_events(d: Path) -> int:
    """Rows of the feature table under the scratch results ``d`` (0 if not written)."""
    import pyarrow.parquet as pq

    table = d / "features" / "features.parquet"
    return pq.ParquetFile(table).metadata.num_rows if table.exists() else 0


def verdict(results: dict[str, dict[int, dict]], generated: dict[int, int], target: int) -> None:
    """Per stage: time per million events at each scale, linearity, memory growth per million
    events, and both extrapolated to the scale ``target`` where it was not measured."""
    print("\nper stage: s (cpu s) per 10^6 generated events at each scale; linear cpu time; peak memory growth")
    for stage, by_scale in results.items():
        scales = sorted(by_scale)
        per_m = {s: by_scale[s]["seconds"] / (generated[s] / 1e6) for s in scales}
        cpu = {s: by_scale[s]["cpu_seconds"] / (generated[s] / 1e6) for s in scales}
        text = ", ".join(f"{s}x {per_m[s]:.1f} (cpu {cpu[s]:.1f})" for s in scales)
        if len(scales) < 2:
            print(f"  {stage:14s} {text}  (one scale only)")
            continue
        a, b = scales[-2], scales[-1]
        # from the second largest to the largest scale: time against the events' growth (below 1:
        # a fixed cost still dominates), and the memory's growth per million events added
        ratio = (by_scale[b]["cpu_seconds"] / by_scale[a]["cpu_seconds"]) / (b / a)
        shape = "superlinear" if ratio > 1 + LINEAR else "linear" if ratio >= 1 - LINEAR else "sublinear"
        low, high = by_scale[scales[0]]["peak_mb"], by_scale[b]["peak_mb"]
        growth = (high - by_scale[a]["peak_mb"]) / ((generated[b] - generated[a]) / 1e6)
        memory = "flat" if high <= (1 + FLAT) * low else "GROWS"
        print(
            f"  {stage:14s} {text}  | cpu time {a}x->{b}x: {ratio:.2f} x linear ({shape}) | peak {scales[0]}x->{b}x "
            f"{low:.0f} -> {high:.0f} MB ({memory}), {growth:+.0f} MB per 10^6 events added {a}x->{b}x"
        )
        if target > b:  # linear from the largest scale on, at its time per event and this growth
            events = generated[b] / b * target
            seconds, peak = per_m[b] * events / 1e6, high + growth * (events - generated[b]) / 1e6
            print(
                f"  {'':14s} EXTRAPOLATED to {target}x ({events:,.0f} events), not measured: {seconds:.0f} s, peak {peak:.0f} MB"
            )


def run_options(parser: argparse.ArgumentParser, scales: list[int], scratch: Path) -> None:
    """Add the options of a benchmark on a finished run replicated at several scales to ``parser``:
    --run (the run's checkout), --config (its config), --scales, --scratch and --keep."""
    parser.add_argument("--run", type=Path, default=REPO, help="the checkout of a finished default run (read only)")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml", help="the run's config")
    parser.add_argument("--scales", type=int, nargs="+", default=scales)
    parser.add_argument("--scratch", type=Path, default=scratch)
    parser.add_argument("--keep", action="store_true", help="keep each scale's scratch results")


def read_config(path: Path) -> dict:
    """The config at ``path`` with the schema's defaults filled, as the workflow reads it."""
    config = yaml.safe_load(path.read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    run_options(parser, [1, 3, 10, 30], Path("/tmp/phenoflow-scale"))
    parser.add_argument("--train-up-to", type=int, default=10, help="largest scale at which the models train")
    parser.add_argument("--extrapolate", type=int, default=100, help="scale to extrapolate the figures to")
    parser.add_argument("--models", nargs="+", help="classifier instances to train (default: all of the config)")
    args = parser.parse_args()
    if args.child:
        return run_child(args.child)
    config = read_config(args.config)
    processes = sorted(config["processes"])
    models = args.models or sorted(config["classifiers"])
    results: dict[str, dict[int, dict]] = {}
    generated = {}
    print(
        f"run {args.run}; the default sample's chunk ntuples REPLICATED N times (linked, page-cached), not new events"
    )
    for scale in args.scales:
        d = args.scratch / f"x{scale}"
        shutil.rmtree(d, ignore_errors=True)
        replicate(args.run, d, scale, config)
        generated[scale] = sum(json.loads(p.read_text())["n_events"] for p in d.glob("generate/*/chunk*.json"))
        print(f"\n{scale}x: {generated[scale]:,} generated events (load average {os.getloadavg()[0]:.1f})")
        totals: dict[str, dict] = {}
        for i, (stage, job) in enumerate(jobs(config, d, processes, models, scale <= args.train_up_to)):
            figures = measure(job, d / f"job{i}.json")
            total = totals.setdefault(stage, {"seconds": 0.0, "cpu_seconds": 0.0, "peak_mb": 0.0})
            total["seconds"] += figures["seconds"]
            total["cpu_seconds"] += figures["cpu_seconds"]
            total["peak_mb"] = max(total["peak_mb"], figures["peak_mb"])
            extra = f" {job['wildcards']['process']}" if job["wildcards"] else ""
            print(
                f"  {stage}{extra}: {figures['seconds']:.1f} s (cpu {figures['cpu_seconds']:.1f} s), "
                f"peak {figures['peak_mb']:.0f} MB",
                flush=True,
            )
        print(f"  {skimmed_events(d):,} skimmed events (feature rows)")
        for stage, total in totals.items():
            results.setdefault(stage, {})[scale] = total
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)
    verdict(results, generated, args.extrapolate)


if __name__ == "__main__":
    main()
