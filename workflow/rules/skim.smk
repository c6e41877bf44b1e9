rule skim:
    """Apply the preselection to every chunk of a process and attach physical weights."""
    input:
        ntuples=chunk_files("root"),
        summary=result("generate/{process}/summary.json"),
    output:
        events=result("skim/{process}.parquet"),
        cutflow=result("skim/{process}.cutflow.csv"),
        provenance=result("skim/{process}.provenance.yaml"),
    params:
        provenance=lambda w: provenance_config("skim", process=w.process),
        cuts=config["selection"]["cuts"],
        allow_empty=config["selection"]["allow_empty"],
        constituents=keep_constituents(),
        substructure=config["substructure"],
        luminosity_fb=config["luminosity_fb"],
    log:
        result("logs/skim/{process}.log"),
    benchmark:
        result("benchmarks/skim/{process}.tsv")
    resources:
        **job_resources(4000, 30),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/skim.py"


rule cutflow:
    """Collect the cutflows of all processes into one table for the report."""
    input:
        expand(result("skim/{process}.cutflow.csv"), process=PROCESSES),
    output:
        table=report(
            result("skim/cutflow.csv"),
            caption="../report/cutflow.rst",
            category="Selection",
        ),
        plot=report(
            result("skim/cutflow.png"),
            caption="../report/cutflow_plot.rst",
            category="Selection",
        ),
        provenance=result("skim/cutflow.provenance.yaml"),
    params:
        provenance=lambda w: provenance_config("cutflow"),
        sqrt_s_gev=config["collider"]["sqrt_s_gev"],  # the figures' label
        luminosity_fb=config["luminosity_fb"],
    log:
        result("logs/cutflow.log"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/cutflow.py"
