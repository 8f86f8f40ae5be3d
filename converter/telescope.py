"""DSA-110 facts the converter relies on, each defined once for the whole package."""

from __future__ import annotations

#: The correlator's integration time (s) and integrations per dump (DOMAIN.md §1): one
#: dump, the observation a group of subband files holds, lasts DUMP_SECONDS (~309 s),
#: and dumps follow each other at that cadence.
INTEGRATION_TIME_S = 12.884902
INTEGRATIONS_PER_DUMP = 24
DUMP_SECONDS = INTEGRATIONS_PER_DUMP * INTEGRATION_TIME_S

#: Dish diameter of every DSA-110 antenna (m): the ANTENNA table and the primary beam.
DISH_DIAMETER_M = 4.65

#: CASA's observatory name for the site; OBSERVATION::TELESCOPE_NAME, so that CASA finds
#: the array position in its observatories table.
TELESCOPE_NAME = "OVRO_MMA"

#: CASA's OVRO_MMA observatory position (WGS84), DOMAIN.md §2. Used only to check the
#: position the files carry; the files' own position is what the conversion uses.
OVRO_MMA_LATITUDE_RAD = 0.649845511
OVRO_MMA_LONGITUDE_RAD = -2.064427799
OVRO_MMA_ALTITUDE_M = 1188.05

#: A header position further than this from OVRO_MMA is rejected as wrong (the
#: prototype's hard-coded site was ~390 km off); a smaller offset is only logged.
SITE_REJECT_DISTANCE_M = 1000.0
SITE_WARN_DISTANCE_M = 10.0

#: Reference frequency of the calibrator model's spectral index (DOMAIN.md §3).
MODEL_REFERENCE_FREQUENCY_HZ = 1.4e9
MODEL_SPECTRAL_INDEX = -0.7
