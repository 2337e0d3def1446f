"""One extension per feature; each `setup()` only adds its cog."""
