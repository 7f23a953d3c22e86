"""One page per step of the workflow: Acquire, Policy, Fit, Review, Inspect, Log."""
