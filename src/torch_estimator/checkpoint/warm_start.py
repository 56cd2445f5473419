"""Warm starting: WarmStartSettings and VocabInfo, applied when model_dir has no checkpoint."""

__all__: list[str] = []
