rule config_record:
    """The validated config (defaults filled in) that produced these results, for the report."""
    output:
        report(
            result("config.yaml"),
            caption="../report/config.rst",
            category="Configuration",
        ),
    params:
        config=config,
    log:
        result("logs/config_record.log"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/config_record.py"


rule headline:
    """The report's front page: each classifier's AUC, best threshold Z, best binned Z and best
    expected limit in one table."""
    input:
        metrics=expand(result("evaluation/{model}/metrics.json"), model=MODELS),
        binning=expand(result("binning/{model}/table.csv"), model=BINNED_MODELS),
        inference=expand(result("inference/{model}/table.csv"), model=INFERENCE_MODELS),
    output:
        table=report(
            result("headline.csv"),
            caption="../report/headline.rst",
            category="Headline",
        ),
        markdown=result("headline.md"),
        provenance=result("headline.provenance.yaml"),
    params:
        provenance=lambda w: provenance_config("headline"),
        models=MODELS,
        binned_models=BINNED_MODELS,
        inference_models=INFERENCE_MODELS,
        cl=config["inference"]["cl"],
        mc_limited_below=config["inference"]["mc_limited_below"],
    log:
        result("logs/headline.log"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/headline.py"
