rule scan_lhe:
    """Read an LHE process's file once: check that it is a complete LHE file, and keep its header,
    the cross section of its events and every event's weight, with the weights of the variations
    the process asks for, for the chunks, which then shower only their own events. A bad file, or
    one without a variation asked for, fails here, once (no retries), naming the file."""
    input:
        lhe=lambda w: config["processes"][w.process]["lhe"]["file"],
    output:
        header=result("generate/{process}/lhe.json"),
        weights=result("generate/{process}/lhe_weights.npy"),
    wildcard_constraints:
        process=one_of(LHE_PROCESSES),
    params:
        variations=lambda w: config["processes"][w.process]["lhe"].get("variations", []),
    log:
        result("logs/generate/{process}/scan_lhe.log"),
    benchmark:
        result("benchmarks/generate/{process}/scan_lhe.tsv")
    resources:
        **job_resources(2000, 30),
    conda:
        "../envs/generate.yaml"
    script:
        "../scripts/scan_lhe.py"


rule generate_chunk:
    """Generate one chunk of a process (Pythia8, or an LHE file showered by Pythia8), pass it
    through the fast detector simulation and write its Delphes-layout ntuple."""
    input:
        unpack(lhe_inputs),
        card=config["detector"]["card"],
    output:
        ntuple=result("generate/{process}/chunk{chunk}.root"),
        summary=result("generate/{process}/chunk{chunk}.json"),
    wildcard_constraints:
        process=one_of(PYTHIA_PROCESSES),
    params:
        generator=generator_settings,
        n_events=chunk_events,
        first_event=chunk_first_event,
        seed=chunk_seed,
        detector_seed=chunk_detector_seed,
        sqrt_s=config["collider"]["sqrt_s_gev"],
        beams=beam_ids(config),
        # what an attempt failed on if its input made it fail, for the retry to fail at once;
        # not a log: Snakemake removes a job's logs before each attempt
        failure_record=result("logs/generate/{process}/chunk{chunk}.failure.json"),
    log:
        result("logs/generate/{process}/chunk{chunk}.log"),
    benchmark:
        result("benchmarks/generate/{process}/chunk{chunk}.tsv")
    threads: 1
    retries: 1  # a chunk lost to a node failure or a killed process is run once more, alone
    priority: chunk_priority
    resources:
        **job_resources(2000, 60),
        attempt=lambda wildcards, attempt: attempt,  # Snakemake's attempt number, for the script
    conda:
        "../envs/generate.yaml"
    script:
        "../scripts/generate_chunk.py"


rule generate_madgraph_chunk:
    """Generate one chunk of a MadGraph process: MadGraph5_aMC@NLO, showered by Pythia8 and
    passed through Delphes by MadGraph itself (docs/madgraph.md); the Delphes ROOT file is the
    chunk's ntuple."""
    input:
        madgraph_inputs,
    output:
        ntuple=result("generate/{process}/chunk{chunk}.root"),
        summary=result("generate/{process}/chunk{chunk}.json"),
    wildcard_constraints:
        process=one_of(MADGRAPH_PROCESSES),
    params:
        generator=generator_settings,
        n_events=chunk_events,
        seed=chunk_seed,
        sqrt_s=config["collider"]["sqrt_s_gev"],
    log:
        result("logs/generate/{process}/chunk{chunk}.log"),
    benchmark:
        result("benchmarks/generate/{process}/chunk{chunk}.tsv")
    threads: 1
    retries: 1
    resources:
        **job_resources(4000, 240),
    conda:
        "../envs/madgraph.yaml"
    script:
        "../scripts/generate_madgraph_chunk.py"


rule merge_process:
    """Combine the chunks' cross sections and event counts into one summary per process; its
    provenance record hashes the chunks and the files the generator read."""
    input:
        chunks=chunk_files("json"),
        generator_files=generator_files,
    output:
        summary=result("generate/{process}/summary.json"),
        provenance=result("generate/{process}/provenance.yaml"),
    params:
        cross_section=lambda w: config["processes"][w.process].get("cross_section", {}),
        provenance=lambda w: provenance_config("generate", process=w.process),
    log:
        result("logs/merge_process/{process}.log"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/merge_process.py"
