# One training rule per configured model (train_bdt, train_mlp, ...), so that changing one
# model's parameters reruns that model only.
for _model in MODELS:

    rule:
        name:
            f"train_{_model}"
        input:
            **training_inputs(_model),
        output:
            model=model_file(_model),
            history=f"results/models/{_model}/history.csv",
            training=f"results/models/{_model}/training.json",
            provenance=f"results/models/{_model}/provenance.yaml",
        params:
            provenance=provenance_config("train", model=_model),
            model=_model,
            hyper=config["classifiers"][_model],
            features=config["features"]["names"],
            balance=config["training_weights"],
            # the cut-and-count maximises the configured significance (the others ignore it)
            significance=config["significance"] if _model == "cuts" else {},
            seed=derive_seed(config["seed"], "train", _model),
        log:
            f"results/logs/train/{_model}.log",
        benchmark:
            f"results/benchmarks/train/{_model}.tsv"
        threads: 2
        # every model trains before any evaluation or binning starts: those run side by side on
        # one thread each, while a training waiting behind them would hold back its whole branch
        priority: 1
        resources:
            **job_resources(6000, 120),
        conda:
            "../envs/ml.yaml"
        script:
            "../scripts/train.py"
