"""Simulation and test scaffolding, kept out of the production runtime.

* :mod:`.box_room`: an analytic box-shaped room with exact depth, a live source with known
  truth for tests and the node benchmark;
* :mod:`.frames_file`: :class:`~.frames_file.GroundTruthFrames`, a short multi-camera sequence
  with true depth in one ``.npz`` (what the synthetic cameras publish and the oracle knows);
* :mod:`.oracle_engine`: :class:`~.oracle_engine.GroundTruthEngine`, the oracle behind backend
  name ``ground_truth``: it answers the true depth of images it finds in a frames file. It is
  not a depth estimator and not offered as an engine: ``create_engine`` builds it only after
  the explicit opt-in of :mod:`.oracle_opt_in` (``DISDEPTH_ENABLE_ORACLE=1``).

The synthetic street world stays :mod:`disdepth_core.world`: it generates the training and
evaluation data (``disdepth world``, the corpus), it is not test scaffolding.
"""
