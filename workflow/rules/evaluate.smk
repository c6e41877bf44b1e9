rule evaluate:
    """Score every event with the fold model that never saw it; weighted metrics at the full luminosity."""
    input:
        unpack(evaluation_inputs),
    output:
        metrics=report(
            result("evaluation/{model}/metrics.json"),
            caption="../report/metrics.rst",
            category="Classifiers",
            subcategory="{model}",
        ),
        scores=result("evaluation/{model}/scores.parquet"),
        roc=report(
            result("evaluation/{model}/roc.png"),
            caption="../report/roc.rst",
            category="Classifiers",
            subcategory="{model}",
        ),
        distribution=report(
            result("evaluation/{model}/scores.png"),
            caption="../report/scores.rst",
            category="Classifiers",
            subcategory="{model}",
        ),
        overtraining=report(
            result("evaluation/{model}/overtraining.png"),
            caption="../report/overtraining.rst",
            category="Classifiers",
            subcategory="{model}",
        ),
        history=report(
            result("evaluation/{model}/history.png"),
            caption="../report/history.rst",
            category="Classifiers",
            subcategory="{model}",
        ),
        confusion=report(
            result("evaluation/{model}/confusion.png"),
            caption="../report/confusion.rst",
            category="Classifiers",
            subcategory="{model}",
        ),
        provenance=result("evaluation/{model}/provenance.yaml"),
    params:
        provenance=lambda w: provenance_config("evaluate", model=w.model),
        method=lambda w: CLASSIFIERS[w.model].method,
        features=lambda w: list(CLASSIFIERS[w.model].features),
        batches=lambda w: training_batches(w.model),
        classes=CLASSES.as_dict(),
        min_background=config["evaluation"]["min_background"],
        bootstrap=config["evaluation"]["bootstrap"],
        seed=BOOTSTRAP_SEED,
        min_mc_events=config["evaluation"]["min_mc_events"],
        sqrt_s_gev=config["collider"]["sqrt_s_gev"],  # the figures' label
        luminosity_fb=config["luminosity_fb"],
        significance=config["significance"],
    log:
        result("logs/evaluate/{model}.log"),
    conda:
        "../envs/ml.yaml"
    script:
        "../scripts/evaluate.py"


rule compare:
    """Compare every classifier on the same events: one table, their paired differences, one ROC figure."""
    input:
        metrics=expand(result("evaluation/{model}/metrics.json"), model=MODELS),
        scores=expand(result("evaluation/{model}/scores.parquet"), model=MODELS),
        training=[result(CLASSIFIERS[model].manifest_file) for model in MODELS],
    output:
        table=report(
            result("evaluation/comparison.csv"),
            caption="../report/comparison.rst",
            category="Classifiers",
            subcategory="comparison",
        ),
        markdown=result("evaluation/comparison.md"),
        pairs=report(
            result("evaluation/comparison_pairs.csv"),
            caption="../report/comparison_pairs.rst",
            category="Classifiers",
            subcategory="comparison",
        ),
        roc=report(
            result("evaluation/roc_comparison.png"),
            caption="../report/roc_comparison.rst",
            category="Classifiers",
            subcategory="comparison",
        ),
        provenance=result("evaluation/comparison.provenance.yaml"),
    params:
        provenance=lambda w: provenance_config("compare"),
        models=MODELS,
        min_background=config["evaluation"]["min_background"],
        min_mc_events=config["evaluation"]["min_mc_events"],
        bootstrap=config["evaluation"]["bootstrap"],
        seed=BOOTSTRAP_SEED,
        sqrt_s_gev=config["collider"]["sqrt_s_gev"],  # the figures' label
        luminosity_fb=config["luminosity_fb"],
        significance=config["significance"],
    log:
        result("logs/compare.log"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/compare.py"
