# One training rule per classifier instance (train_<name>), so that changing one instance's
# settings reruns that instance only.
for _model, _classifier in CLASSIFIERS.items():

    rule:
        name:
            f"train_{_model}"
        input:
            **training_inputs(_model),
        output:
            model=result(_classifier.model_file),
            history=result(f"models/{_model}/history.csv"),
            training=result(f"models/{_model}/training.json"),
            provenance=result(f"models/{_model}/provenance.yaml"),
        params:
            provenance=provenance_config("train", model=_model),
            model=_model,
            method=_classifier.method,
            hyper=_classifier.hyper,
            features=list(_classifier.features),
            balance=training_balance(_model),
            # a model that maximises the significance gets its settings (the others ignore them)
            significance=config["significance"] if _classifier.description.significance_objective else {},
            seed=derive_seed(config["seed"], "train", _model),
        log:
            result(f"logs/train/{_model}.log"),
        benchmark:
            result(f"benchmarks/train/{_model}.tsv")
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
