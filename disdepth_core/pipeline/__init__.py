"""The camera pipeline, from input messages to the batched engine call, without ROS.

Used by both ``surround_depth_node`` (rclpy messages) and ``disdepth eval-bag`` (messages
deserialised by ``rosbags``); the two message kinds share their field names, so every
function here takes either.

- :mod:`.decoding`: Image / CompressedImage -> checked pixels -> ``(H, W, 3)`` uint8 RGB.
- :mod:`.intrinsics`: CameraInfo -> K, and the per-camera CameraInfo-vs-rig policy.
- :mod:`.batch`: the frames of one synchronised set -> ``(N, H, W, 3)`` uint8 + K ``(N, 3, 3)``.
- :mod:`.sync_settings`: the synchroniser settings (``sync.*``) as one typed dataclass.
- :mod:`.node_params`: every parameter of ``surround_depth_node`` (typed config).
- :mod:`.latest_slot`: the one-item hand-off between callbacks and the inference worker.
- :mod:`.qos_report`: readable QoS descriptions for incompatible-QoS warnings.
"""
