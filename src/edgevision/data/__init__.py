"""Datasets by format, batching and augmentation. Importing this package registers every built-in format."""

from . import (  # noqa: F401  (registration of the data formats in SOURCES)
    coco,
    coco128_semantic,
    folder,
    masks,
    mnist,
    pennfudan,
    pennfudan_crops,
    presence,
    shapes_source,
    voc,
    yolo,
)
from .augment import AugmentConfig, Augmenter
from .base import DataSplits, SampleDataset, TensorSampleDataset, collate
from .loader import BatchLoader, BatchTransform
from .paths import find_dataset, require_dataset
from .sources import SOURCES, DataConfig, load_data, parse_source

__all__ = ["SOURCES", "AugmentConfig", "Augmenter", "BatchLoader", "BatchTransform", "DataConfig", "DataSplits",
           "SampleDataset", "TensorSampleDataset", "collate", "find_dataset", "load_data", "parse_source",
           "require_dataset"]
