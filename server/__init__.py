"""Run the real Triton Inference Server locally on an exported repository."""
