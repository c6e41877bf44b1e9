rule images:
    """Jet images of each skimmed event's leading fat jet (its EFlow constituents), row by row
    aligned with the feature table, and the average signal and background image."""
    input:
        events=expand(result("skim/{process}.parquet"), process=PROCESSES),
        table=result("features/features.parquet"),
    output:
        images=result("features/images.npy"),
        metadata=result("features/images.yaml"),
        average=report(
            result("features/average_images.png"),
            caption="../report/average_images.rst",
            category="Datasets",
        ),
    params:
        processes=PROCESSES,
        spec=config.get("images", {}),
        radius=config["substructure"]["radius"],
        sqrt_s_gev=config["collider"]["sqrt_s_gev"],  # the figure's label
        provenance=lambda w: provenance_config("images"),
    log:
        result("logs/images.log"),
    benchmark:
        result("benchmarks/images.tsv")
    resources:
        **job_resources(4000, 60),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/images.py"
