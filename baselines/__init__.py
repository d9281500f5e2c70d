"""The challenge organisers' baselines and the constant-mean floor, registered like any system."""
