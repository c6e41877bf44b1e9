"""Helpers shared by the rules: chunks, seeds and file lists derived from the config."""

import math

from phenoflow.binning.methods import uses_likelihood
from phenoflow.config import beam_ids, binnable_instances, inference_targets
from phenoflow.events.observables import needs_constituents
from phenoflow.features.classes import classes_from_config
from phenoflow.features.splits import n_folds, split_scheme
from phenoflow.models import classifiers
from phenoflow.provenance import provenance_config as library_provenance_config
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
#: What the inference stage builds likelihoods for (the defaults: phenoflow.config.inference_targets).
INFERENCE_MODELS, INFERENCE_METHODS, INFERENCE_N_BINS = inference_targets(config)


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
    keys = ("pythia", "bias", "decay_filter", "lhe", "madgraph", "shower_variations")
    return {key: process[key] for key in keys if key in process}


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


def provenance_config(kind, model=None, process=None):
    """The part of the config the results of ``kind`` depend on (:func:`phenoflow.provenance.provenance_config`),
    and the inference block for binnings of which a method maximises its likelihood."""
    classifier = CLASSIFIERS[model] if model is not None else None
    part = library_provenance_config(config, kind, model=model, classifier=classifier, process=process)
    if kind == "binning" and binning_likelihood() is not None:
        part["inference"] = binning_likelihood()
    return part


def binning_likelihood():
    """The config's inference block if a binning method maximises its likelihood, else None (a
    binning then does not depend on it)."""
    return config["inference"] if uses_likelihood(config["binning"]["methods"]) else None


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
