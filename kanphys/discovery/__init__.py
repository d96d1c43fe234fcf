"""Law discovery from measurements: data checks, coordinate views and the LawDiscovery estimator."""

from kanphys.discovery.data import Dataset, check_dataset, read_table
from kanphys.discovery.law import Candidate, LawDiscovery, ViewReport

__all__ = ["Candidate", "Dataset", "LawDiscovery", "ViewReport", "check_dataset", "read_table"]
