"""`memberflow demo`'s days: for each pipeline, what its members do in a simulated day and the
run that follows, named by its registration's `DemoHooks.day`. Never deployed."""
