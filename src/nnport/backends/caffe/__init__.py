"""ONNX → Caffe for HiSilicon's NNIE mapper: the converter, the mapper's config and an OpenCV runner."""
