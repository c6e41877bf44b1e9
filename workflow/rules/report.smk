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
