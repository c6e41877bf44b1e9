"""Helpers shared by the rules: chunks, seeds and file lists derived from the config."""

import math

from phenoflow.config import beam_ids, binnable_instances
from phenoflow.events.observables import needs_constituents
from phenoflow.features.classes import classes_from_config
from phenoflow.features.splits import n_folds, split_scheme
from phenoflow.models import classifiers
from phenoflow.seeds import derive_seed

#: The analysis's results directory (config key `results`): every output, job log and benchmark
#: record goes under it, so analyses with their own directories share a checkout.
RESULTS = config["results"]


def result(path):
    """``path`` (relative, wildcards in braces kept as they are) under the results directory."""
    return f"{RESULTS}/{path}"


PROCESSES = sorted(config["processes"])
MADGRAPH_PROCESSES = sorted(p for p in PROCESSES if "madgraph" in config["processes"][p])
PYTHIA_PROCESSES = sorted(set(PROCESSES) - set(MADGRAPH_PROCESSES))
#: Processes that shower an LHE file with Pythia8 (a subset of PYTHIA_PROCESSES).
LHE_PROCESSES = sorted(p for p in PROCESSES if "lhe" in config["processes"][p])
#: The classes the classifiers learn (one per role, or the processes' `class` keys).
CLASSES = classes_from_config(config["processes"])
#: The classifier instances by name (classifiers.<name>), each with its model's description.
CLASSIFIERS = classifiers(config)
MODELS = list(CLASSIFIERS)
#: The train/val/test sets of the split: k folds, or one fixed split; one model per set and instance.
FOLDS = list(range(n_folds(config["split"])))
#: The seed of the bootstrap replicas, one for every classifier (rules evaluate and compare): each
#: one's errors and the comparison's paired differences come from the same resampled events.
BOOTSTRAP_SEED = derive_seed(config["seed"], "bootstrap")
#: Models whose score is binned (a cut-and-count has a pass/fail score, nothing to bin).
BINNED_MODELS = binnable_instances(config)
#: What the inference stage builds likelihoods for: by default every binned model, the optimised
#: binning methods (optimal, gmm) among those that run, and every number of bins.
INFERENCE_MODELS = sorted(config["inference"].get("classifiers", BINNED_MODELS))
INFERENCE_METHODS = config["inference"].get(
    "methods", [m for m in ("optimal", "gmm") if m in config["binning"]["methods"]] or config["binning"]["methods"]
)
INFERENCE_N_BINS = config["inference"].get("n_bins", config["binning"]["n_bins"])


def one_of(names):
    """Wildcard regex matching exactly these names (none: a regex that never matches)."""
    return "|".join(names) if names else "(?!)"


wildcard_constraints:
    process="|".join(PROCESSES),
    chunk=r"\d+",
    fold=r"\d+",
    model="|".join(MODELS),


def job_resources(mem_mb, runtime=30):
    """A job's memory (MB) and time limit (minutes) for every executor: Snakemake's mem_mb and
    runtime (local, SLURM), and the same as htcondor_request_mem_mb and allowed_execute_duration
    (seconds) for the HTCondor plugin, which reads neither mem_mb nor runtime. The memory grows
    with the attempt, so a job a cluster killed for its memory asks for more when retried."""

    def memory(wildcards, attempt):
        return mem_mb * attempt

    return {"mem_mb": memory, "runtime": runtime, "htcondor_request_mem_mb": memory, "allowed_execute_duration": 60 * runtime}


def n_chunks(process):
    """Number of generation chunks of a process."""
    return math.ceil(config["processes"][process]["events"] / config["generation"]["events_per_chunk"])


def chunk_events(wildcards):
    """Events in one chunk: events_per_chunk, the last chunk taking the remainder."""
    per_chunk = config["generation"]["events_per_chunk"]
    total = config["processes"][wildcards.process]["events"]
    return min(per_chunk, total - int(wildcards.chunk) * per_chunk)


def chunk_priority(wildcards):
    """Start the chunks of decay-filtered processes first: they generate several events per kept
    one, and the longest jobs started last would end the generation alone."""
    return 1 if "decay_filter" in config["processes"][wildcards.process] else 0


def chunk_seed(wildcards):
    """Pythia seed of one chunk, derived from the global seed, process and chunk index."""
    return derive_seed(config["seed"], "generate", wildcards.process, int(wildcards.chunk))


def chunk_detector_seed(wildcards):
    """Seed of the detector simulation of one chunk (independent of the generator's)."""
    return derive_seed(config["seed"], "detector", wildcards.process, int(wildcards.chunk))


def chunk_first_event(wildcards):
    """Index of the chunk's first event (used to read an LHE file in chunks)."""
    return int(wildcards.chunk) * config["generation"]["events_per_chunk"]


def generator_settings(wildcards):
    """Only the generator part of a process, so that changing its event count keeps old chunks."""
    process = config["processes"][wildcards.process]
    return {key: process[key] for key in ("pythia", "bias", "decay_filter", "lhe", "madgraph") if key in process}


def lhe_inputs(wildcards):
    """An LHE process's file and its scan (rule scan_lhe), so that changing the file reruns its
    chunks; nothing for a Pythia process."""
    process = config["processes"][wildcards.process]
    if "lhe" not in process:
        return {}
    scan = result(f"generate/{wildcards.process}/lhe")
    return {"lhe": process["lhe"]["file"], "lhe_header": f"{scan}.json", "lhe_weights": f"{scan}_weights.npy"}


def generator_files(wildcards):
    """The files a process's chunks were generated from: an LHE file and its scan, or a MadGraph
    process's own Delphes card (none for Pythia8 settings)."""
    if "madgraph" in config["processes"][wildcards.process]:
        return madgraph_inputs(wildcards)
    lhe = lhe_inputs(wildcards)
    return [lhe["lhe"], lhe["lhe_header"]] if lhe else []


def madgraph_inputs(wildcards):
    """A MadGraph process's own Delphes card, if it has one, so that changing it reruns its chunks."""
    madgraph = config["processes"][wildcards.process]["madgraph"]
    return [madgraph["delphes_card"]] if "delphes_card" in madgraph else []


def generation_summaries(wildcards):
    """Every process's generation summary (its cross section and generated events)."""
    return [result(f"generate/{process}/summary.json") for process in PROCESSES]


def chunk_files(kind):
    """Input function: all chunk files (kind 'root' or 'json') of the process wildcard."""

    def files(wildcards):
        return [result(f"generate/{wildcards.process}/chunk{i}.{kind}") for i in range(n_chunks(wildcards.process))]

    return files


def keep_constituents():
    """Whether skimmed events keep their EFlow objects: for jet images, or if a cut or feature
    uses substructure."""
    return "images" in config or needs_constituents([*config["selection"]["cuts"], *config["features"]["names"]])


#: The config keys the events of every process depend on, up to the skim.
EVENT_KEYS = ("seed", "luminosity_fb", "collider", "generation", "processes", "detector", "selection", "substructure")
#: The config keys each stage's results depend on (dotted keys name one entry of a block),
#: recorded with their hash in the stage's provenance record.
PROVENANCE_KEYS = {
    "cutflow": EVENT_KEYS,
    "features": (*EVENT_KEYS, "features"),
    "images": (*EVENT_KEYS, "images"),
    "split": (*EVENT_KEYS, "features", "split"),
    "compare": (*EVENT_KEYS, "features", "images", "split", "training_weights", "training_batches", "classifiers",
                "evaluation", "significance"),
    "headline": (*EVENT_KEYS, "features", "images", "split", "training_weights", "training_batches", "classifiers",
                 "evaluation", "significance", "binning", "inference"),
}


def provenance_config(kind, model=None, process=None):
    """The part of the config the results of ``kind`` depend on: a dataset, a stage, a model's
    stage ("train", "evaluate", "binning", "inference" with ``model``) or a process's ("generate", "skim")."""
    if process is not None:  # a process's events do not depend on its role, class or title
        keys = ("seed", "collider", "generation", "detector")
        keys += ("luminosity_fb", "selection", "substructure") if kind == "skim" else ()
        events = {k: v for k, v in config["processes"][process].items() if k not in ("role", "class", "title")}
        return {**{k: config[k] for k in keys if k in config}, "processes": {process: events}}
    elif model is not None:  # only the inputs and weights this classifier uses, and its own block
        instance = CLASSIFIERS[model]
        inputs = ("images",) if instance.images else ()
        weights = () if instance.description.physical_weights else ("training_weights",)
        weights += ("training_batches",) if instance.description.batched else ()
        keys = (*EVENT_KEYS, "features", *inputs, "split", *weights, f"classifiers.{model}")
        # a model whose training maximises the significance (the cut-and-count) depends on its
        # settings, and on the threshold rule's minimum of MC events unless its block sets its own
        if instance.description.significance_objective:
            keys += ("significance",) + (() if "min_mc_events" in instance.hyper else ("evaluation.min_mc_events",))
        keys += {
            "train": (),
            "evaluate": ("evaluation", "significance"),
            "binning": ("evaluation", "binning", "significance"),
            "inference": ("evaluation", "binning", "significance", "inference"),
        }[kind]
    else:
        keys = PROVENANCE_KEYS[kind]
    part = {}
    for key in keys:
        *parents, last = key.split(".")
        source, target = config, part
        for name in parents:
            source, target = source[name], target.setdefault(name, {})
        if last in source:
            target[last] = source[last]
    return part


def training_inputs(model):
    """Inputs of a classifier's training and evaluation: features, split, and the jet images if
    its model takes them."""
    inputs = {"features": result("features/features.parquet"), "split": result("features/split.json")}
    if CLASSIFIERS[model].images:
        inputs["images"] = result("features/images.npy")
    return inputs


def training_balance(model):
    """The training weights of a classifier: config's training_weights, or None (physical
    weights) for a model that trains on those (the cut-and-count maximises Z_A)."""
    return None if CLASSIFIERS[model].description.physical_weights else config["training_weights"]


def training_batches(model):
    """Where a classifier gets its rows in training and scoring: config's training_batches for
    a model that trains on mini-batches (the networks), else memory (the others read theirs)."""
    return config["training_batches"] if CLASSIFIERS[model].description.batched else "memory"


def selection_events(model):
    """The background MC events the selection of a significance-maximising classifier (the
    cut-and-count) must keep: its own min_mc_events, else evaluation.min_mc_events; None for
    every other classifier."""
    instance = CLASSIFIERS[model]
    if not instance.description.significance_objective:
        return None
    return instance.hyper.get("min_mc_events", config["evaluation"]["min_mc_events"])


def training_seed(model):
    """Params function: the seed of a classifier instance's training on one fold."""

    def seed(wildcards):
        return derive_seed(config["seed"], "train", model, int(wildcards.fold))

    return seed


def fold_outputs(wildcards):
    """Every fold's trained model, history and training record of the model wildcard."""
    model = wildcards.model
    folder = result(f"models/{model}/fold{{fold}}")
    return {
        "models": [result(CLASSIFIERS[model].model_file(fold)) for fold in FOLDS],
        "histories": expand(f"{folder}/history.csv", fold=FOLDS),
        "trainings": expand(f"{folder}/training.json", fold=FOLDS),
    }


def evaluation_inputs(wildcards):
    """Inputs of rule evaluate for the model wildcard (the data, the fold models and their manifest)."""
    model = wildcards.model
    return {**training_inputs(model), **fold_outputs(wildcards), "manifest": result(CLASSIFIERS[model].manifest_file)}
