"""Library code of ``disdepth bench`` (its one home; ``disdepth_core/commands/bench.py`` is only
the argument parsing and printing):

* :mod:`.model_cost` - parameters, FLOPs and CPU latency of a network (``--models``);
* :mod:`.backends` - latency split, throughput and peak memory of each depth engine backend,
  student vs teacher speed-up (``--backend``).

Stand-alone measurement scripts (they report numbers and assert nothing) live in the
repository's ``benchmarks/``, among them ``benchmarks/bench_node.py``, the end-to-end
benchmark and soak of ``surround_depth_node`` over real DDS.
"""
