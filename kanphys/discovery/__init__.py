"""Law discovery from measurements: data checks, coordinate views and the LawDiscovery estimator."""

from kanphys.discovery.data import Dataset, check_dataset, read_table
from kanphys.discovery.law import Candidate, LawDiscovery, ViewReport
from kanphys.discovery.properties import Fact, StructureFacts, structure

__all__ = [
    "Candidate",
    "Dataset",
    "Fact",
    "LawDiscovery",
    "StructureFacts",
    "ViewReport",
    "check_dataset",
    "read_table",
    "structure",
]
