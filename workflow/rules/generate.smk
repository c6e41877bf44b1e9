rule generate_chunk:
    """Generate one chunk of a process (Pythia8, or an LHE file showered by Pythia8), pass it
    through the fast detector simulation and write its Delphes-layout ntuple."""
    input:
        card=config["detector"]["card"],
        generator=generator_inputs,
    output:
        ntuple="results/generate/{process}/chunk{chunk}.root",
        summary="results/generate/{process}/chunk{chunk}.json",
    wildcard_constraints:
        process=one_of(PYTHIA_PROCESSES),
    params:
        generator=generator_settings,
        n_events=chunk_events,
        first_event=chunk_first_event,
        seed=chunk_seed,
        detector_seed=chunk_detector_seed,
        sqrt_s=config["collider"]["sqrt_s_gev"],
    log:
        "logs/generate/{process}/chunk{chunk}.log",
    benchmark:
        "benchmarks/generate/{process}/chunk{chunk}.tsv"
    threads: 1
    retries: 1  # a chunk lost to a node failure or a killed process is run once more, alone
    resources:
        **job_resources(2000, 60),
    conda:
        "../../envs/generate.yaml"
    script:
        "../../scripts/generate_chunk.py"


rule generate_madgraph_chunk:
    """Generate one chunk of a MadGraph process: MadGraph5_aMC@NLO, showered by Pythia8 and
    passed through Delphes by MadGraph itself (docs/madgraph.md); the Delphes ROOT file is the
    chunk's ntuple."""
    input:
        generator_inputs,
    output:
        ntuple="results/generate/{process}/chunk{chunk}.root",
        summary="results/generate/{process}/chunk{chunk}.json",
    wildcard_constraints:
        process=one_of(MADGRAPH_PROCESSES),
    params:
        generator=generator_settings,
        n_events=chunk_events,
        seed=chunk_seed,
        sqrt_s=config["collider"]["sqrt_s_gev"],
    log:
        "logs/generate/{process}/chunk{chunk}.log",
    benchmark:
        "benchmarks/generate/{process}/chunk{chunk}.tsv"
    threads: 1
    retries: 1
    resources:
        **job_resources(4000, 240),
    conda:
        "../../envs/madgraph.yaml"
    script:
        "../../scripts/generate_madgraph_chunk.py"


rule merge_process:
    """Combine the chunks' cross sections and event counts into one summary per process."""
    input:
        chunk_files("json"),
    output:
        summary="results/generate/{process}/summary.json",
        provenance="results/generate/{process}/provenance.yaml",
    params:
        cross_section=lambda w: config["processes"][w.process].get("cross_section", {}),
        provenance=lambda w: provenance_config("generate", process=w.process),
    log:
        "logs/merge_process/{process}.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/merge_process.py"
