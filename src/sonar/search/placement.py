"""Where a job ran, as the worker running it sees itself: recorded with the job's outcome.

Inside a Ray worker that is the Ray node (its id, which tells apart several nodes on one machine,
and its IP); anywhere else the host and the process. Ray is looked up only when the process already
imported it, so a worker outside Ray never pays for importing it."""

from __future__ import annotations

import os
import socket
import sys


def current_placement() -> dict:
    place: dict = {"host": socket.gethostname(), "pid": os.getpid()}
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        place["ray_node_id"] = ray.get_runtime_context().get_node_id()
        place["ip"] = ray.util.get_node_ip_address()
    return place


def placement_label(place: dict) -> str:
    """One short name for a place: the Ray node (8 hex digits are enough to tell a cluster's apart), else
    host:pid."""
    if "ray_node_id" in place:
        return f"{place.get('ip', place.get('host'))} node {place['ray_node_id'][:8]}"
    return f"{place.get('host')}:{place.get('pid')}"
