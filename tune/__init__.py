"""``python -m tune``: the best serving config for this machine, these texts and a latency budget."""
