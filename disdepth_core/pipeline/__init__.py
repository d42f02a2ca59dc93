"""The camera pipeline, from input messages to the batched engine call, without ROS.

Used by both ``surround_depth_node`` (rclpy messages) and ``disdepth eval-bag`` (messages
deserialised by ``rosbags``); the two message kinds share their field names, so every
function here takes either.

- :mod:`.decoding`: Image / CompressedImage -> checked pixels -> ``(H, W, 3)`` uint8 RGB.
- :mod:`.intrinsics`: CameraInfo -> K, and the per-camera CameraInfo-vs-rig policy.
- :mod:`.batch`: the frames of one synchronised set -> ``(N, H, W, 3)`` uint8 + K ``(N, 3, 3)``.
- :mod:`.sync_settings`: the synchroniser settings (``sync.*``) as one typed dataclass.
- :mod:`.node_params`: every parameter of ``surround_depth_node`` (typed config).
- :mod:`.surround_pipeline`: ``SurroundPipeline``, the node's whole behaviour between its callbacks
  and its publishers (checks, synchroniser, hand-off, batch, engine call, accounting).
- :mod:`.camera_state`, :mod:`.out_of_sync`, :mod:`.warning_throttle`: its per-camera counters, the
  skewed-clock detector, and the once-per-cause log lines.
- :mod:`.engine_startup`: the engine loaded, warmed up and checked; the start-up summary line.
- :mod:`.diagnostics_report`: the ``/diagnostics`` statuses as plain data.
- :mod:`.latest_slot`: the one-item hand-off between callbacks and the inference worker.
- :mod:`.qos_report`: readable QoS descriptions for incompatible-QoS warnings.
"""
