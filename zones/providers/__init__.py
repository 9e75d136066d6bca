"""Carbon-intensity providers: HTTP clients and file parsers returning plain dataclasses.

No Django imports anywhere in this package; the zones app maps
``IntensityReading.zone_key`` to its own zones and stores the readings.
"""

from .bands import INDEX_BANDS, IndexBand, index_band
from .base import (
    CarbonIntensityProvider,
    IntensityReading,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from .electricitymaps import ElectricityMapsProvider
from .files import CsvFormat, CsvFormatError, ImportReport, ParseResult, Rejection, iter_csv_readings, parse_csv
from .neso import NATIONAL_ZONE_KEY, NesoProvider
from .watttime import WattTimeProvider

__all__ = [
    "INDEX_BANDS",
    "NATIONAL_ZONE_KEY",
    "CarbonIntensityProvider",
    "CsvFormat",
    "CsvFormatError",
    "ElectricityMapsProvider",
    "ImportReport",
    "IndexBand",
    "IntensityReading",
    "NesoProvider",
    "ParseResult",
    "PermanentProviderError",
    "ProviderError",
    "Rejection",
    "TransientProviderError",
    "WattTimeProvider",
    "index_band",
    "iter_csv_readings",
    "parse_csv",
]
