rule train_bdt:
    """Train the gradient-boosted trees with class-balanced weights and early stopping."""
    input:
        features="results/features/features.parquet",
        split="results/features/split.json",
    output:
        model="results/models/bdt/model.json",
        history="results/models/bdt/history.csv",
    params:
        hyper=config["classifiers"]["bdt"],
        features=config["features"]["names"],
        balance=config["training_weights"],
        seed=derive_seed(config["seed"], "train", "bdt"),
    log:
        "logs/train/bdt.log",
    benchmark:
        "benchmarks/train/bdt.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/ml.yaml"
    script:
        "../../scripts/train_bdt.py"
