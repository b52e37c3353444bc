"""Box operations shared by data, tasks, metrics and deploy: IoU, the δ encoding, anchors, NMS, post-processing.

``boxes``, ``anchors`` and ``postprocess`` are pure NumPy (a deployed detector needs no torch);
``torch_boxes`` holds the differentiable versions used by the losses and by in-graph decoding.
"""
