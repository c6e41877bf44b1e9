# One training rule per classifier instance (train_<name>), so that changing one instance's
# settings reruns that instance only; each job trains the model of one fold.
for _model, _classifier in CLASSIFIERS.items():

    rule:
        name:
            f"train_{_model}"
        input:
            **training_inputs(_model),
        output:
            model=result(_classifier.model_file("{fold}")),
            history=result(f"models/{_model}/fold{{fold}}/history.csv"),
            training=result(f"models/{_model}/fold{{fold}}/training.json"),
            provenance=result(f"models/{_model}/fold{{fold}}/provenance.yaml"),
        params:
            provenance=provenance_config("train", model=_model),
            model=_model,
            fold=lambda w: int(w.fold),
            method=_classifier.method,
            hyper=_classifier.hyper,
            features=list(_classifier.features),
            balance=training_balance(_model),
            batches=training_batches(_model),
            # a model that maximises the significance gets its settings (the others ignore them)
            significance=config["significance"] if _classifier.description.significance_objective else {},
            min_mc_events=selection_events(_model),
            seed=training_seed(_model),
        log:
            result(f"logs/train/{_model}/fold{{fold}}.log"),
        benchmark:
            result(f"benchmarks/train/{_model}/fold{{fold}}.tsv")
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


rule ensemble:
    """Collect a classifier instance's fold models into one manifest: their files, their training
    records, and which model scores which events."""
    input:
        unpack(fold_outputs),
    output:
        manifest=result("models/{model}/ensemble.json"),
        provenance=result("models/{model}/provenance.yaml"),
    params:
        provenance=lambda w: provenance_config("train", model=w.model),
        method=lambda w: CLASSIFIERS[w.model].method,
        file_name=lambda w: CLASSIFIERS[w.model].description.file_name,
        split=split_scheme(config["split"]),
    log:
        result("logs/ensemble/{model}.log"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/ensemble.py"
