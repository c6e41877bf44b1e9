rule features:
    """Compute the configured observables of every skimmed event into one feature table."""
    input:
        events=expand(result("skim/{process}.parquet"), process=PROCESSES),
        summaries=expand(result("generate/{process}/summary.json"), process=PROCESSES),
    output:
        table=result("features/features.parquet"),
        metadata=result("features/features.yaml"),
    params:
        processes=PROCESSES,
        provenance=lambda w: provenance_config("features"),
        classes=CLASSES.as_dict(),
        names=config["features"]["names"],
        fill_value=config["features"]["fill_value"],
        substructure=config["substructure"],
    log:
        result("logs/features.log"),
    benchmark:
        result("benchmarks/features.tsv")
    resources:
        **job_resources(4000),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/features.py"


rule split:
    """Seeded k-fold (or one fixed train/validation/test) split of the feature rows, stratified by process."""
    input:
        result("features/features.parquet"),
    output:
        split=result("features/split.json"),
        provenance=result("features/split.provenance.yaml"),
    params:
        provenance=lambda w: provenance_config("split"),
        spec=config["split"],
        seed=derive_seed(config["seed"], "split"),
    log:
        result("logs/split.log"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/split.py"
