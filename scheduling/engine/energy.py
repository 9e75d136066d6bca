"""Power model used when a workload does not state its energy.

energy_kWh = (GPUs x GPU_WATTS + cores x CPU_CORE_WATTS + memory_GB x MEMORY_WATTS_PER_GB)
             x PUE x hours / 1000

Sources of the coefficients (why these numbers):

* ``GPU_WATTS = 300``: NVIDIA A100 SXM4 has a 400 W TDP (NVIDIA A100 datasheet,
  2021); sustained training/inference draws typically sit around 75 % of TDP,
  ~300 W. The average GPU count is ``gpu_mins / duration_mins`` (GPU-minutes
  spread over the run), so ``gpu_mins`` alone determines GPU energy.
* ``CPU_CORE_WATTS = 12``: the Green Algorithms calculator (Lannelongue,
  Grealey & Inouye 2021, *Green Algorithms: Quantifying the Carbon Footprint of
  Computation*, Advanced Science 8:2100707) uses ~12 W per core as its
  default for server CPUs (TDP per core); SPECpower_ssj2008 results for current
  two-socket servers give ~10–15 W per loaded core.
* ``MEMORY_WATTS_PER_GB = 0.3725``: the same Green Algorithms paper, 0.3725 W
  per GB of DRAM.
* ``DEFAULT_PUE = 1.5``: Uptime Institute Global Data Center Survey 2023
  reports an average PUE of 1.58; newer UK/European facilities are typically
  ~1.5 (Green Algorithms also offers 1.67 as a global default). Facility
  overhead multiplies IT power.
"""

from __future__ import annotations

GPU_WATTS: float = 300.0
"""Watts per busy GPU (A100 SXM: 400 W TDP, ~300 W typical under load)."""
CPU_CORE_WATTS: float = 12.0
"""Watts per busy CPU core (Green Algorithms default; SPECpower ~10-15 W)."""
MEMORY_WATTS_PER_GB: float = 0.3725
"""Watts per GB of memory in use (Green Algorithms, Lannelongue et al. 2021)."""
DEFAULT_PUE: float = 1.5
"""Power usage effectiveness of the facility (Uptime Institute 2023: 1.58 global mean)."""


def estimate_power_watts(gpus: float, cpu_cores: float, memory_gb: float, pue: float = DEFAULT_PUE) -> float:
    """Facility-level power draw in watts of the given concurrent resources."""
    if min(gpus, cpu_cores, memory_gb) < 0:
        raise ValueError("resources must be >= 0")
    if pue < 1.0:
        raise ValueError("PUE cannot be below 1")
    it_watts = gpus * GPU_WATTS + cpu_cores * CPU_CORE_WATTS + memory_gb * MEMORY_WATTS_PER_GB
    return it_watts * pue


def estimate_energy_kwh(
    duration_mins: float,
    gpu_mins: float = 0.0,
    cpu_cores: float = 0.0,
    memory_gb: float = 0.0,
    pue: float = DEFAULT_PUE,
) -> float:
    """Estimate a run's energy in kWh from its resources and duration.

    GPUs enter as GPU-minutes (so a 2-hour run using 4 GPUs half the time has
    240 GPU-minutes); CPU cores and memory are held for the whole run.
    """
    if duration_mins <= 0:
        raise ValueError("duration_mins must be > 0")
    gpus = gpu_mins / duration_mins
    return estimate_power_watts(gpus, cpu_cores, memory_gb, pue) * (duration_mins / 60.0) / 1000.0
