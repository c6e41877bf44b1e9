"""Feature tables, process classes and jet images: the classifiers' inputs."""
