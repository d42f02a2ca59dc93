"""disdepth_core: surround-view metric depth distilled from a transformer teacher (no ROS imports)."""

__version__ = "0.1.0"
