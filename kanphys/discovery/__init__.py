"""Law discovery from measurements: data checks, coordinate views and the LawDiscovery estimator;
equation identification from field data and trajectories (identify_pde, identify_ode); structure
tests on fitted models (structure)."""

from kanphys.discovery.data import Dataset, check_dataset, read_table
from kanphys.discovery.field_data import FieldData, check_field, read_field
from kanphys.discovery.identify import Identification, identify_ode, identify_pde
from kanphys.discovery.law import Candidate, LawDiscovery, ViewReport
from kanphys.discovery.properties import Fact, StructureFacts, structure

__all__ = [
    "Candidate",
    "Dataset",
    "Fact",
    "FieldData",
    "Identification",
    "LawDiscovery",
    "StructureFacts",
    "ViewReport",
    "check_dataset",
    "check_field",
    "identify_ode",
    "identify_pde",
    "read_field",
    "read_table",
    "structure",
]
