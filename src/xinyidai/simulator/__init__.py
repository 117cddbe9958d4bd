"""Department simulator: serves the synthetic department data through query interfaces, with injectable faults."""

from xinyidai.simulator.data import DataDirectoryError, DataIndex, departments_of
from xinyidai.simulator.model import Action, FaultMode, FaultPlan, MalformedKind, Reply, next_action
from xinyidai.simulator.server import (
    FAULT_HEADER,
    RunningSimulator,
    SimulatorState,
    create_simulator_app,
    running,
    serve,
)

__all__ = [
    "FAULT_HEADER",
    "Action",
    "DataDirectoryError",
    "DataIndex",
    "FaultMode",
    "FaultPlan",
    "MalformedKind",
    "Reply",
    "RunningSimulator",
    "SimulatorState",
    "create_simulator_app",
    "departments_of",
    "next_action",
    "running",
    "serve",
]
