rule config_record:
    """The validated config (defaults filled in) that produced these results, for the report."""
    output:
        report(
            "results/config.yaml",
            caption="../report/config.rst",
            category="Configuration",
        ),
    params:
        config=config,
    log:
        "results/logs/config_record.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/config_record.py"


rule headline:
    """The report's front page: each classifier's AUC, best threshold Z, best binned Z and best
    expected limit in one table."""
    input:
        metrics=expand("results/evaluation/{model}/metrics.json", model=MODELS),
        binning=expand("results/binning/{model}/table.csv", model=BINNED_MODELS),
        inference=expand("results/inference/{model}/table.csv", model=INFERENCE_MODELS),
    output:
        table=report(
            "results/headline.csv",
            caption="../report/headline.rst",
            category="Headline",
        ),
        markdown="results/headline.md",
        provenance="results/headline.provenance.yaml",
    params:
        provenance=lambda w: provenance_config("headline"),
        models=MODELS,
        binned_models=BINNED_MODELS,
        inference_models=INFERENCE_MODELS,
        cl=config["inference"]["cl"],
    log:
        "results/logs/headline.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/headline.py"
