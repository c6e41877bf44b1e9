rule inference:
    """A HistFactory likelihood per chosen binning of a classifier's score (pyhf workspaces), its
    expected discovery significance and CLs upper limits on the signal strength, each also without
    MC statistics (and without theory systematics where the scores carry variation weights), and
    for an MC-limited result how many more events of which process it needs; the figure of the
    processes' theory variations in the bins of the best median limit (always written: it says
    so when there are none)."""
    input:
        binning=result("binning/{model}/binning.json"),
        scores=result("evaluation/{model}/scores.parquet"),
        summaries=generation_summaries,  # each process's generated events, for the events needed
    output:
        workspaces=expand(
            result("inference/{{model}}/workspace_{method}_K{k}.json"), method=INFERENCE_METHODS, k=INFERENCE_N_BINS
        ),
        table=report(
            result("inference/{model}/table.csv"),
            caption="../report/inference_table.rst",
            category="Inference",
            subcategory="{model}",
        ),
        markdown=result("inference/{model}/table.md"),
        plot=report(
            result("inference/{model}/limits.png"),
            caption="../report/inference_limits.rst",
            category="Inference",
            subcategory="{model}",
        ),
        variations=report(
            result("inference/{model}/theory_variations.png"),
            caption="../report/theory_variations.rst",
            category="Inference",
            subcategory="{model}",
        ),
        provenance=result("inference/{model}/provenance.yaml"),
    params:
        provenance=lambda w: provenance_config("inference", model=w.model),
        methods=INFERENCE_METHODS,
        n_bins=INFERENCE_N_BINS,
        luminosity_uncertainty=config["inference"]["luminosity_uncertainty"],
        normalisation=config["inference"]["normalisation"],
        mc_statistics=config["inference"]["mc_statistics"],
        theory=config["inference"]["theory"],
        cl=config["inference"]["cl"],
        mc_limited_below=config["inference"]["mc_limited_below"],
        sqrt_s_gev=config["collider"]["sqrt_s_gev"],  # the figures' label
        luminosity_fb=config["luminosity_fb"],
        significance=config["significance"],
    log:
        result("logs/inference/{model}.log"),
    benchmark:
        result("benchmarks/inference/{model}.tsv")
    threads: 1
    resources:
        **job_resources(2000, 60),
    conda:
        "../envs/inference.yaml"
    script:
        "../scripts/inference.py"
