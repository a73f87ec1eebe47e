"""A simulated Kingdee Cloud Galaxy (金蝶云星空): its WebAPI server and the demo's ERP service."""

from dropship_simulator.kingdee.server import KingdeeSimulator
from dropship_simulator.kingdee.signature import scramble_client_secret

__all__ = ["KingdeeSimulator", "scramble_client_secret"]
