"""Every stage's options as pydantic models, in modules that import nothing heavier than pydantic, so the CLI
can build its flags and help without importing torch. Each verb's config carries its CLI facts (``cli``)."""

MODULES = ("train", "distill", "compress", "deploy", "bench", "apps", "faces", "report", "recipe")
