rule binning:
    """Bin the scored events with each configured method and number of bins, judged by one rule;
    each fold's events through bins chosen on the other folds (binning.crossfit)."""
    input:
        scores=result("evaluation/{model}/scores.parquet"),
        summaries=generation_summaries,  # each process's theory variations, for the likelihood methods
    output:
        results=result("binning/{model}/binning.json"),
        table=report(
            result("binning/{model}/table.csv"),
            caption="../report/binning_table.rst",
            category="Binning",
            subcategory="{model}",
        ),
        plot=report(
            result("binning/{model}/significance.png"),
            caption="../report/binning_plot.rst",
            category="Binning",
            subcategory="{model}",
        ),
        plots=report(
            directory(result("binning/{model}/plots")),
            patterns=["{name}.png"],
            caption="../report/binning_plots.rst",
            category="Binning",
            subcategory="{model}",
        ),
        provenance=result("binning/{model}/provenance.yaml"),
    params:
        provenance=lambda w: provenance_config("binning", model=w.model),
        binning=config["binning"],  # the methods, K, the rule, the mixture's settings, crossfit, combination
        classes=CLASSES.as_dict(),
        significance=config["significance"],
        inference=binning_likelihood(),  # the inference block, if a method maximises its likelihood
        seed=lambda w: derive_seed(config["seed"], "binning", w.model),
        sqrt_s_gev=config["collider"]["sqrt_s_gev"],  # the figures' label
        luminosity_fb=config["luminosity_fb"],
    log:
        result("logs/binning/{model}.log"),
    threads: 1  # the mixture's fits are many small TensorFlow ops: a second thread does not help
    resources:
        **job_resources(4000, 60),
    conda:
        "../envs/ml.yaml"
    script:
        "../scripts/binning.py"
