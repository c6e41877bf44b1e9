rule inference:
    """A HistFactory likelihood per chosen binning of a classifier's score (pyhf workspaces), its
    expected discovery significance and CLs upper limits on the signal strength."""
    input:
        binning="results/binning/{model}/binning.json",
        scores="results/evaluation/{model}/scores.parquet",
    output:
        workspaces=expand(
            "results/inference/{{model}}/workspace_{method}_K{k}.json", method=INFERENCE_METHODS, k=INFERENCE_N_BINS
        ),
        table=report(
            "results/inference/{model}/table.csv",
            caption="../report/inference_table.rst",
            category="Inference",
            subcategory="{model}",
        ),
        markdown="results/inference/{model}/table.md",
        plot=report(
            "results/inference/{model}/limits.png",
            caption="../report/inference_limits.rst",
            category="Inference",
            subcategory="{model}",
        ),
        provenance="results/inference/{model}/provenance.yaml",
    params:
        provenance=lambda w: provenance_config("inference", model=w.model),
        methods=INFERENCE_METHODS,
        n_bins=INFERENCE_N_BINS,
        luminosity_uncertainty=config["inference"]["luminosity_uncertainty"],
        normalisation=config["inference"]["normalisation"],
        mc_statistics=config["inference"]["mc_statistics"],
        cl=config["inference"]["cl"],
        sqrt_s_gev=config["collider"]["sqrt_s_gev"],  # the figures' label
        luminosity_fb=config["luminosity_fb"],
        significance=config["significance"],
    log:
        "results/logs/inference/{model}.log",
    benchmark:
        "results/benchmarks/inference/{model}.tsv"
    threads: 1
    resources:
        **job_resources(2000, 60),
    conda:
        "../envs/inference.yaml"
    script:
        "../scripts/inference.py"
