"""The sweep trial store lives in `adaptrade.storage.trials`; this name is kept for research code."""

from adaptrade.storage.trials import TrialStore, data_key

__all__ = ["TrialStore", "data_key"]
