"""torch-estimator: TensorFlow's Estimator system on PyTorch."""
