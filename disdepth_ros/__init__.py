"""ROS 2 adapters over ``disdepth_core``: message conversion, nodes, bag playback.

Nodes hold no model or geometry logic: they convert messages, synchronise, call the engine
and the point-cloud builder of ``disdepth_core``, and publish.
"""

from .startup_signals import quiet_interrupt_while_starting

quiet_interrupt_while_starting()
